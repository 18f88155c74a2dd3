"""Reading the event store: the global log by position, one stream by version.

Events are appended by :meth:`UnitOfWork.publish <lamina.persistence.UnitOfWork.publish>`
at commit, in the same transaction as the rows they describe (G3, G9).

Reading after a position never skips an event that commits later with a smaller
position (G7). On PostgreSQL, a sequence hands out positions when rows are
inserted, not when they commit, so two writers can commit out of order and a
reader that already moved past the larger position would miss the smaller one
for ever. Known cures: readers that track gaps and wait for them (Axon's
gap-aware tokens), readers that only trust rows whose transaction id is below
the snapshot's ``xmin`` (the ``xid8`` outbox technique), or writers that
serialize the short moment of appending. lamina does the last: every
appending transaction takes one transaction-scoped advisory lock right before
it inserts its events, so positions are handed out and become visible in the
same order (PostgreSQL releases the lock only after the commit is visible).
Readers stay a plain ``position > P`` scan. Writers of events serialize on that
short section only; the rest of their work stays concurrent. SQLite serializes
all writers, so the guarantee holds there by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, select

from lamina.domain.events import DomainEvent
from lamina.events.registry import EventRegistry
from lamina.events.stored import StoredEvent
from lamina.persistence.database import Database
from lamina.persistence.tables import events
from lamina.persistence.unit_of_work import UnitOfWork

S = TypeVar("S")

DEFAULT_READ_LIMIT = 500


def _read_after() -> Any:
    return (
        select(*events.c)
        .where(events.c.position > bindparam("after"))
        .order_by(events.c.position)
        .limit(bindparam("limit"))
    )


def _read_stream() -> Any:
    return (
        select(*events.c)
        .where(events.c.stream_id == bindparam("stream_id"))
        .where(events.c.stream_version > bindparam("after_version"))
        .order_by(events.c.stream_version)
    )


def _last_position() -> Any:
    return select(func.coalesce(func.max(events.c.position), 0).label("position"))


def _at_position() -> Any:
    return select(*events.c).where(events.c.position == bindparam("position"))


class EventStore:
    """Reads the event log of a :class:`Database`, or inside a :class:`UnitOfWork`.

    >>> store = EventStore(db)
    >>> batch = await store.read(after=checkpoint, limit=100)
    >>> history = await store.read_stream(str(conversation_id))
    """

    def __init__(self, target: Database | UnitOfWork) -> None:
        self.target = target

    async def read(self, after: int = 0, limit: int = DEFAULT_READ_LIMIT) -> list[StoredEvent]:
        """Up to ``limit`` events with a position greater than ``after``, in position order."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        stmt = self.target.statements.get(("lamina", "events", "read_after"), _read_after)
        async with self.target.connection() as conn:
            rows = await stmt.fetch(conn, {"after": after, "limit": limit})
        return [StoredEvent.model_validate(row) for row in rows]

    async def read_stream(self, stream_id: str, *, after_version: int = 0) -> list[StoredEvent]:
        """The events of one stream with a version greater than ``after_version``, in order."""
        stmt = self.target.statements.get(("lamina", "events", "read_stream"), _read_stream)
        async with self.target.connection() as conn:
            rows = await stmt.fetch(conn, {"stream_id": stream_id, "after_version": after_version})
        return [StoredEvent.model_validate(row) for row in rows]

    async def get(self, position: int) -> StoredEvent | None:
        """The event at ``position``, or None."""
        stmt = self.target.statements.get(("lamina", "events", "at_position"), _at_position)
        async with self.target.connection() as conn:
            rows = await stmt.fetch(conn, {"position": position})
        return StoredEvent.model_validate(rows[0]) if rows else None

    async def last_position(self) -> int:
        """The greatest committed position, 0 for an empty log."""
        stmt = self.target.statements.get(("lamina", "events", "last_position"), _last_position)
        async with self.target.connection() as conn:
            rows = await stmt.fetch(conn, {})
        return int(rows[0]["position"])

    async def fold_stream(
        self,
        stream_id: str,
        initial: S,
        apply: Callable[[S, DomainEvent], S],
        *,
        registry: EventRegistry | None = None,
    ) -> S:
        """Recover an aggregate's state: ``apply`` every event of its stream, oldest first.

        >>> def apply(total: int, event: DomainEvent) -> int: ...
        >>> balance = await store.fold_stream(str(account_id), 0, apply)
        """
        state = initial
        for stored in await self.read_stream(stream_id):
            state = apply(state, stored.decode(registry))
        return state
