"""Login and registration throttling, counted in the database so every worker enforces it.

The login policy, built so that throttling cannot be turned into a lockout:

* **per account and address** (``per_pair``, default 5 failures in 15 min):
  strict. Beyond it, that address gets 429 for that account, and nobody else
  does: an attacker's failures never make the owner's correct password fail;
* **per address** (``per_address``, default 20 failures in 5 min, any
  accounts): 429, against one address spraying guesses over many accounts;
* **per account, from anywhere** (``slowdown``): never refused, but once an
  account has had ``after`` failures in its window, each further attempt is
  answered only after a delay that doubles with every failure (up to
  ``max_delay``): guessing from many addresses gets slow, the owner still
  logs in.

Every attempt is counted when it starts (parallel guesses cannot slip past
the limit while the first are verified). A successful login clears the
account's and the pair's failures and takes back its own attempt at the
address; an attempt that ends in another error (an outage) is taken back
entirely. Registrations are limited per address (``RegistrationThrottle``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from lamina.domain.entity import utcnow
from lamina.domain.errors import Unauthenticated
from lamina.persistence.database import Database
from lamina.security.rate_limits import Hit, RateLimit, RateLimits, Window

DEFAULT_PAIR_LIMIT = RateLimit(max_attempts=5, window_seconds=900)
DEFAULT_ADDRESS_LIMIT = RateLimit(max_attempts=20, window_seconds=300)
DEFAULT_REGISTRATION_LIMIT = RateLimit(max_attempts=10, window_seconds=3600)


@dataclass(frozen=True, slots=True)
class Slowdown:
    """Delay attempts on an account that had ``after`` failures within ``window_seconds``:
    ``first_delay`` seconds, doubling with each further failure, at most ``max_delay``."""

    after: int = 5
    window_seconds: float = 900
    first_delay: float = 0.5
    max_delay: float = 4.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before answering an attempt that follows ``failures`` failures."""
        if failures < self.after:
            return 0.0
        return float(min(self.first_delay * 2 ** (failures - self.after), self.max_delay))


DEFAULT_SLOWDOWN = Slowdown()


class LoginThrottle:
    """The login policy of the module docstring, over the database of ``db``.

    >>> throttle = LoginThrottle(db)
    >>> async with throttle.attempt(username, client_host) as attempt:  # may raise RateLimited
    ...     if not await check_password(...):
    ...         raise Unauthenticated("incorrect username or password")
    ...     attempt.succeeded()

    ``per_address=None`` or ``slowdown=None`` turns that part off.
    """

    def __init__(
        self,
        db: Database,
        *,
        per_pair: RateLimit = DEFAULT_PAIR_LIMIT,
        per_address: RateLimit | None = DEFAULT_ADDRESS_LIMIT,
        slowdown: Slowdown | None = DEFAULT_SLOWDOWN,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = RateLimits(db, clock=clock)
        self.per_pair = per_pair
        self.per_address = per_address
        self.slowdown = slowdown
        self.sleep = sleep

    def attempt(self, account: str, address: str | None) -> LoginAttempt:
        """One login attempt on ``account`` from ``address``: use with ``async with``."""
        name = account.strip().casefold()
        windows = [Window("login-pair", f"{name}\0{address or ''}", self.per_pair)]
        if address and self.per_address is not None:
            windows.append(Window("login-address", address, self.per_address))
        if self.slowdown is not None:
            window = RateLimit(max(self.slowdown.after, 1), self.slowdown.window_seconds)
            windows.append(Window("login-account", name, window, refuse=False))
        return LoginAttempt(self, windows)


class LoginAttempt:
    """One counted login attempt (from :meth:`LoginThrottle.attempt`)."""

    def __init__(self, throttle: LoginThrottle, windows: list[Window]) -> None:
        self._throttle = throttle
        self._windows = windows
        self._hit: Hit | None = None
        self._succeeded = False

    def succeeded(self) -> None:
        """The credentials were right: the failures of the account and the pair are cleared."""
        self._succeeded = True

    async def __aenter__(self) -> LoginAttempt:
        throttle = self._throttle
        self._hit = await throttle.limits.hit(self._windows)  # raises RateLimited
        if throttle.slowdown is not None:
            account = self._windows[-1]
            await throttle.sleep(throttle.slowdown.delay(self._hit.counts[account] - 1))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        limits, hit = self._throttle.limits, self._hit
        if hit is None:
            return
        if self._succeeded:
            for window in self._windows:
                if window.scope == "login-address":
                    continue
                await limits.clear(window)
            await limits.forget(hit)
        elif exc is not None and not isinstance(exc, Unauthenticated):
            await limits.forget(hit)  # not a wrong guess (an outage): it does not count


class RegistrationThrottle:
    """At most ``per_address`` registrations from one client address (``None``: no limit)."""

    def __init__(
        self,
        db: Database,
        *,
        per_address: RateLimit | None = DEFAULT_REGISTRATION_LIMIT,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.limits = RateLimits(db, clock=clock)
        self.per_address = per_address

    async def attempt(self, address: str | None) -> None:
        """Count one registration from ``address``; raises RateLimited beyond the limit."""
        if address and self.per_address is not None:
            await self.limits.hit([Window("register-address", address, self.per_address)])
