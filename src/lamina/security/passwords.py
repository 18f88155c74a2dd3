"""Password hashing with Argon2id (argon2-cffi), off the event loop.

Only the encoded hash (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) is
ever stored. Hashing and verifying are deliberately slow, so they run in
worker threads, at most ``max_concurrency`` at a time (each one holds
``memory_cost`` KiB while it runs).

:meth:`PasswordHasher.verify_unknown` spends the same work as a real
verification against nothing, so a login for an unknown user takes as long
as one with a wrong password.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass

import anyio
import anyio.to_thread
import argon2
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's recommended minimum for Argon2id: 19 MiB, two passes, one lane.
DEFAULT_TIME_COST = 2
DEFAULT_MEMORY_COST_KIB = 19_456
DEFAULT_PARALLELISM = 1


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """The cost of one Argon2id hash: passes, memory in KiB, lanes.

    The defaults are OWASP's recommendation (m=19 MiB, t=2, p=1). Raise them
    as far as login latency allows; tests may lower them (for example
    ``Argon2Parameters(time_cost=1, memory_cost_kib=1024)``).
    """

    time_cost: int = DEFAULT_TIME_COST
    memory_cost_kib: int = DEFAULT_MEMORY_COST_KIB
    parallelism: int = DEFAULT_PARALLELISM
    hash_len: int = 32
    salt_len: int = 16

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1:
            raise ValueError("time_cost and parallelism must be at least 1")
        if self.memory_cost_kib < 8 * self.parallelism:
            raise ValueError("memory_cost_kib must be at least 8 times parallelism")


class PasswordHasher:
    """Hashes and verifies passwords with Argon2id, in worker threads.

    >>> hasher = PasswordHasher()
    >>> stored = await hasher.hash("correct horse battery staple")
    >>> await hasher.verify(stored, "correct horse battery staple")
    True
    """

    def __init__(
        self,
        parameters: Argon2Parameters | None = None,
        *,
        max_concurrency: int | None = None,
    ) -> None:
        self.parameters = parameters or Argon2Parameters()
        p = self.parameters
        self._hasher = argon2.PasswordHasher(
            time_cost=p.time_cost,
            memory_cost=p.memory_cost_kib,
            parallelism=p.parallelism,
            hash_len=p.hash_len,
            salt_len=p.salt_len,
            type=argon2.Type.ID,
        )
        limit = max_concurrency if max_concurrency is not None else (os.cpu_count() or 1)
        if limit < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._limiter = anyio.CapacityLimiter(limit)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """The encoded Argon2id hash of ``password`` (with a fresh random salt)."""
        secret = _encode(password)
        return await anyio.to_thread.run_sync(self._hasher.hash, secret, limiter=self._limiter)

    async def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``.

        False on a mismatch and also when ``stored_hash`` is not an Argon2 hash
        at all (then after the same work as a real verification).
        """
        secret = _encode(password)
        return await anyio.to_thread.run_sync(
            self._verify_sync, stored_hash, secret, limiter=self._limiter
        )

    async def verify_unknown(self, password: str) -> bool:
        """Do the work of one verification and return False (the user does not exist).

        Call it where :meth:`verify` would run had the user existed, so both
        failures take the same time. The hash it verifies against is made on
        the first call, which therefore costs one hash more.
        """
        await anyio.to_thread.run_sync(self._burn, _encode(password), limiter=self._limiter)
        return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` was made with other parameters (or another algorithm).

        Check it after a successful login and store a new hash of the password if so.
        """
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def _verify_sync(self, stored_hash: str, password: bytes) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except VerificationError:
            return False
        except (InvalidHashError, ValueError):
            self._burn(password)
            return False

    def _burn(self, password: bytes) -> None:
        """Spend the time of one verification, against a hash of a random secret."""
        dummy = self._dummy_hash
        if dummy is None:  # made once, on first use; a race only makes it twice
            dummy = self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))
        with contextlib.suppress(VerificationError):
            self._hasher.verify(dummy, password)


def _encode(password: str) -> bytes:
    # "surrogatepass": a lone surrogate (possible in JSON input) is hashed, not a crash.
    return password.encode("utf-8", "surrogatepass")
