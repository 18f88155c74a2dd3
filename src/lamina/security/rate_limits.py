"""Sliding-window rate limits kept in the database: every worker and every restart sees them.

>>> limits = RateLimits(db)
>>> hit = await limits.hit([Window("register", address, RateLimit(10, 3600))])  # or RateLimited
>>> await limits.forget(hit)       # take the attempt back (it was not what the limit counts)

An attempt is counted when it starts, in every window it belongs to, and only
then compared with the limits: parallel attempts cannot slip through while the
first are still running, and one refused attempt is taken back, so refusals do
not extend a block. Keys are stored as SHA-256 digests (no addresses or names
at rest). Rows older than the longest window anyone used are purged now and
then by :meth:`RateLimits.hit` itself.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select

from lamina.domain.entity import utcnow
from lamina.domain.errors import RateLimited
from lamina.domain.ids import uuid7_batch
from lamina.persistence.database import Database
from lamina.persistence.tables import rate_events
from lamina.persistence.types import UTCDateTime

PURGE_EVERY = 256
"""Hits between two purges of rows that left every window."""

_e = rate_events.c


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``max_attempts`` counted attempts within any ``window_seconds``."""

    max_attempts: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.window_seconds <= 0:
            raise ValueError("a rate limit needs max_attempts >= 1 and a positive window")


@dataclass(frozen=True, slots=True)
class Window:
    """One counter an attempt is counted in: a scope, a key in it, and its limit.

    With ``refuse=False`` the window only counts (the caller reads the count,
    for example to slow attempts down) and never refuses.
    """

    scope: str
    key: str
    limit: RateLimit
    refuse: bool = True

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.scope}\0{self.key}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Hit:
    """One counted attempt: its rows, and each window's count including it."""

    ids: tuple[UUID, ...]
    counts: dict[Window, int]


class RateLimits:
    """The counters of :mod:`lamina.security.rate_limits`, in ``lamina_rate_events``."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self._hits = 0
        self._longest = 0.0

    async def hit(self, windows: Sequence[Window]) -> Hit:
        """Count one attempt in each of ``windows``.

        Raises :class:`~lamina.domain.RateLimited` (with the seconds until the
        fullest window has room) if a refusing window is over its limit; the
        attempt is then taken back.
        """
        now = self.clock()
        ids = tuple(uuid7_batch(len(windows)))
        rows = [[i, w.scope, w.digest, now] for i, w in zip(ids, windows, strict=True)]
        insert_stmt = self.db.statements.get(("lamina", "rate", "insert"), _build_insert)
        count_stmt = self.db.statements.get(
            ("lamina", "rate", "count", len(windows)), lambda: _build_count(len(windows))
        )
        params: dict[str, Any] = {}
        for n, window in enumerate(windows):
            params[f"d{n}"] = window.digest
            params[f"h{n}"] = now - timedelta(seconds=window.limit.window_seconds)
        async with self.db.connection() as conn:
            await conn.insert_rows(insert_stmt.insert_rows(rate_events, rows))
            found = {row["key"]: row for row in await count_stmt.fetch(conn, params)}
        counts = {w: int(found[w.digest]["n"]) if w.digest in found else 0 for w in windows}
        waits = [
            (found[w.digest]["oldest"] - now).total_seconds() + w.limit.window_seconds
            for w in windows
            if w.refuse and counts[w] > w.limit.max_attempts
        ]
        hit = Hit(ids, counts)
        if waits:
            await self.forget(hit)
            raise RateLimited(
                "too many attempts; try again later", retry_after=max(1, math.ceil(max(waits)))
            )
        await self._purge_now_and_then(windows, now)
        return hit

    async def forget(self, hit: Hit) -> None:
        """Take ``hit`` back: it no longer counts in any window."""
        stmt = self.db.statements.get(("lamina", "rate", "forget"), _build_forget)
        async with self.db.connection() as conn:
            await conn.execute_many(stmt.sql, [stmt.arguments({"id": i}) for i in hit.ids])

    async def clear(self, window: Window) -> None:
        """Forget every attempt counted in ``window`` (a success that clears a record)."""
        stmt = self.db.statements.get(("lamina", "rate", "clear"), _build_clear)
        async with self.db.connection() as conn:
            await stmt.execute(conn, {"key": window.digest})

    async def _purge_now_and_then(self, windows: Sequence[Window], now: datetime) -> None:
        self._longest = max(self._longest, *(w.limit.window_seconds for w in windows))
        self._hits += 1
        if self._hits % PURGE_EVERY:
            return
        stmt = self.db.statements.get(("lamina", "rate", "purge"), _build_purge)
        async with self.db.connection() as conn:
            await stmt.execute(conn, {"before": now - timedelta(seconds=self._longest)})


def _build_insert() -> Any:
    return insert(rate_events).values({c.name: bindparam(c.name, type_=c.type) for c in _e})


def _build_count(size: int) -> Any:
    windows = [
        and_(
            _e.key == bindparam(f"d{n}", type_=_e.key.type),
            _e.at > bindparam(f"h{n}", type_=UTCDateTime()),
        )
        for n in range(size)
    ]
    return (
        select(_e.key, func.count().label("n"), func.min(_e.at).label("oldest"))
        .where(or_(*windows))
        .group_by(_e.key)
    )


def _build_forget() -> Any:
    return delete(rate_events).where(_e.id == bindparam("id", type_=_e.id.type))


def _build_clear() -> Any:
    return delete(rate_events).where(_e.key == bindparam("key", type_=_e.key.type))


def _build_purge() -> Any:
    return delete(rate_events).where(_e.at < bindparam("before", type_=UTCDateTime()))
