"""Login rate limiting per account and per client address (sliding window, in-process).

Every login attempt counts when it starts, so parallel guesses cannot slip
through while the first ones are still being verified; a successful login
clears its account's record and takes back its own attempt, and an attempt
that ends in an error other than :class:`Unauthenticated` (an outage, a
cancelled request) is taken back too. Once an account or an address has
``max_attempts`` attempts within ``window_seconds``, further attempts raise
:class:`RateLimited` with the seconds until the oldest one leaves the window.

The counters live in this process: with several worker processes each keeps
its own, so the effective limit is at most the number of workers times the
configured one. Memory is bounded by ``max_tracked_keys``; the least recently
used entries are forgotten first.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from types import TracebackType

from lamina.domain.errors import RateLimited, Unauthenticated


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``max_attempts`` counted attempts within any ``window_seconds``."""

    max_attempts: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.window_seconds <= 0:
            raise ValueError("a rate limit needs max_attempts >= 1 and a positive window")


DEFAULT_ACCOUNT_LIMIT = RateLimit(max_attempts=5, window_seconds=300)
DEFAULT_ADDRESS_LIMIT = RateLimit(max_attempts=20, window_seconds=300)


class LoginThrottle:
    """Counts login attempts per account (username, case-folded) and per client address.

    >>> throttle = LoginThrottle(per_account=RateLimit(5, 300))
    >>> with throttle.attempt(username, client_host) as attempt:   # may raise RateLimited
    ...     if not await check_password(...):
    ...         raise Unauthenticated("incorrect username or password")
    ...     attempt.succeeded()
    """

    def __init__(
        self,
        *,
        per_account: RateLimit = DEFAULT_ACCOUNT_LIMIT,
        per_address: RateLimit | None = DEFAULT_ADDRESS_LIMIT,
        max_tracked_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_tracked_keys < 1:
            raise ValueError("max_tracked_keys must be at least 1")
        self.per_account = per_account
        self.per_address = per_address
        self.max_tracked_keys = max_tracked_keys
        self.clock = clock
        self._attempts: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def attempt(self, account: str, address: str | None) -> LoginAttempt:
        """Count one attempt for ``account`` from ``address``, or raise :class:`RateLimited`.

        Use the result as a context manager around the credential check and
        call :meth:`LoginAttempt.succeeded` when the credentials are right.
        """
        now = self.clock()
        # Accounts are keyed by a digest: a client-chosen name of any length costs 64 bytes.
        name = hashlib.sha256(account.strip().casefold().encode()).hexdigest()
        keyed = [(("account", name), self.per_account)]
        if address and self.per_address is not None:
            keyed.append((("address", address), self.per_address))
        waits = [self._wait(key, limit, now) for key, limit in keyed]
        longest = max(waits)
        if longest > 0:
            raise RateLimited(
                "too many login attempts; try again later",
                retry_after=max(1, math.ceil(longest)),
            )
        for key, limit in keyed:
            self._record(key, limit, now)
        return LoginAttempt(self, [key for key, _ in keyed], now)

    def _wait(self, key: Hashable, limit: RateLimit, now: float) -> float:
        """Seconds until ``key`` may try again (0 if it may now)."""
        stamps = self._attempts.get(key)
        if stamps is None:
            return 0.0
        horizon = now - limit.window_seconds
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        if len(stamps) < limit.max_attempts:
            return 0.0
        return stamps[0] - horizon

    def _record(self, key: Hashable, limit: RateLimit, now: float) -> None:
        stamps = self._attempts.get(key)
        if stamps is None:
            stamps = self._attempts[key] = deque(maxlen=limit.max_attempts)
        else:
            self._attempts.move_to_end(key)
        stamps.append(now)
        while len(self._attempts) > self.max_tracked_keys:
            self._attempts.popitem(last=False)

    def _forget(self, key: Hashable, stamp: float | None) -> None:
        """Drop one attempt of ``key`` (or all of them when ``stamp`` is None)."""
        stamps = self._attempts.get(key)
        if stamps is None:
            return
        if stamp is None:
            stamps.clear()
        elif stamp in stamps:
            stamps.remove(stamp)
        if not stamps:
            del self._attempts[key]


class LoginAttempt:
    """One counted login attempt (from :meth:`LoginThrottle.attempt`)."""

    def __init__(self, throttle: LoginThrottle, keys: list[Hashable], stamp: float) -> None:
        self._throttle = throttle
        self._keys = keys
        self._stamp = stamp
        self._settled = False

    def succeeded(self) -> None:
        """The credentials were right: clear the account's record, take back this attempt."""
        if self._settled:
            return
        self._settled = True
        account, *others = self._keys
        self._throttle._forget(account, None)
        for key in others:
            self._throttle._forget(key, self._stamp)

    def __enter__(self) -> LoginAttempt:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._settled or exc is None or isinstance(exc, Unauthenticated):
            return
        self._settled = True  # not a wrong guess: take the attempt back
        for key in self._keys:
            self._throttle._forget(key, self._stamp)
