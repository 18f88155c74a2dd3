"""One transaction around one use case: rows, audit entries and events commit together (G3)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, String, bindparam, func, insert, select

from lamina.domain.context import EventContext
from lamina.domain.entity import utcnow
from lamina.domain.errors import Unavailable
from lamina.domain.events import DomainEvent, EventPriority
from lamina.domain.ids import uuid7
from lamina.persistence import audit
from lamina.persistence.connection import COPY_THRESHOLD, Batch, Connection
from lamina.persistence.errors import ConnectionLost, is_connection_error
from lamina.persistence.statements import StatementCache
from lamina.persistence.tables import audit_log, events

if TYPE_CHECKING:
    from lamina.persistence.database import Database

EVENTS_CHANNEL = "lamina_events"
"""The PostgreSQL NOTIFY channel that wakes event readers in other processes."""

APPEND_LOCK_KEY = 0x6C616D696E61
"""Advisory lock taken just before appending events, so positions commit in order (G7)."""

_GATED_AUDIT_KEY = ("lamina", "audit", "insert", "gated")


def _build_event_insert() -> Any:
    next_version = (
        select(func.coalesce(func.max(events.c.stream_version), 0) + 1)
        .where(events.c.stream_id == bindparam("stream_id"))
        .scalar_subquery()
    )
    values = {
        c.name: bindparam(c.name, type_=c.type)
        for c in events.c
        if c.name not in ("position", "stream_version")
    }
    return insert(events).values(stream_version=next_version, **values)


_SERIALIZE = "SELECT pg_advisory_xact_lock($1)"

_APPEND_GATE = "SELECT pg_advisory_xact_lock($1), pg_notify($2, $3)"
"""Takes the append lock (G7) and queues the NOTIFY that wakes readers (sent at commit)."""


def _build_gated_audit_insert() -> Any:
    """The INSERT of one audit entry that first passes the append gate (PostgreSQL).

    A commit with events must take the append lock before the events' INSERT
    starts: that statement reads each stream's last version, and must see the
    events committed by whoever held the lock before. Riding on the audit
    entries' INSERT, which the commit sends first anyway, the gate costs no
    round trip of its own. Its lock function is volatile, so PostgreSQL runs
    it (once per row: the lock is re-entrant, identical notifications merge).
    """
    gate = select(
        func.pg_advisory_xact_lock(bindparam("append_lock", type_=BigInteger())).label("locked"),
        func.pg_notify(
            bindparam("channel", type_=String()), bindparam("appended", type_=String())
        ).label("notified"),
    ).subquery("gate")
    entry = select(*audit.entry_parameters().values()).select_from(gate)
    return insert(audit_log).from_select(list(audit.AUDIT_COLUMNS), entry)


class UnitOfWork:
    """A transaction for one use case. Use as ``async with db.unit_of_work() as uow:``.

    Commits when the block ends normally and rolls back when it raises.
    Repositories built on it (``Conversations(uow)``) share its transaction;
    the audit entries they record and the events raised with :meth:`publish`
    are written at commit, in the same transaction. The current
    :class:`EventContext` (taken when the block starts) supplies the actor and
    correlation id.
    """

    def __init__(self, db: Database, *, read_only: bool = False) -> None:
        self.db = db
        self.read_only = read_only
        self.context = EventContext.current()
        self._conn: Connection | None = None
        self._turn = asyncio.Lock()
        self._user: asyncio.Task[Any] | None = None
        self._audit_rows: list[list[Any]] = []
        self._stored_audit = 0
        self._events: list[tuple[DomainEvent, EventPriority, EventContext]] = []
        self._committed = False

    @property
    def statements(self) -> StatementCache:
        """The compiled-statement cache of the database."""
        return self.db.statements

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect_name

    async def __aenter__(self) -> UnitOfWork:
        if self._conn is not None:
            raise RuntimeError("a unit of work cannot be entered twice")
        self.context = EventContext.current()
        self._conn = await self.db.acquire()
        try:
            await self._conn.begin(write=not self.read_only)
        except BaseException as exc:
            await self.db.release(self._conn, failed=exc)
            self._conn = None
            if is_connection_error(exc):
                raise ConnectionLost("could not start a transaction") from exc
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        if conn is None:
            return
        failure: BaseException | None = exc
        try:
            if exc is None:
                await self._commit(conn)
            else:
                await conn.rollback()
                self.db.stats.rollbacks += 1
        except BaseException as commit_exc:
            failure = commit_exc
            await conn.rollback()
            self.db.stats.rollbacks += 1
            if is_connection_error(commit_exc):
                raise Unavailable(
                    "the database connection was lost while committing; the outcome is unknown"
                ) from commit_exc
            raise
        finally:
            self._conn = None
            self._audit_rows.clear()
            self._stored_audit = 0
            self._events.clear()
            await self.db.release(conn, failed=failure)

    async def _commit(self, conn: Connection) -> None:
        batches: list[Batch] = []
        appended = len(self._events)
        gate = [APPEND_LOCK_KEY, EVENTS_CHANNEL, str(appended)]
        gated = appended and self.dialect_name == "postgresql"
        if gated and 0 < len(self._audit_rows) < COPY_THRESHOLD:  # a bulk goes by COPY instead
            stmt = self.statements.get(_GATED_AUDIT_KEY, _build_gated_audit_insert)
            batches.append((stmt.sql, stmt.arguments_many([r + gate for r in self._audit_rows])))
        else:
            if gated:
                await conn.execute(_APPEND_GATE, gate)
            if self._audit_rows:
                stmt = self.statements.get(audit.INSERT_KEY, audit.build_insert)
                batches.append(stmt.insert_rows(audit_log, self._audit_rows))
        if appended:
            stmt = self.statements.get(("lamina", "events", "append"), _build_event_insert)
            now = utcnow()
            rows = [
                {
                    "event_id": uuid7(),
                    "stream_id": event.stream_id,
                    "event_type": type(event).event_type,
                    "schema_version": type(event).schema_version,
                    "payload": event.payload(),
                    "context": ctx.model_dump(mode="json"),
                    "priority": int(priority),
                    "recorded_at": now,
                }
                for event, priority, ctx in self._events
            ]
            batches.append(stmt.batch(rows))
        await conn.commit(batches)
        self._committed = True
        stats = self.db.stats
        stats.transactions += 1
        stats.audit_entries += len(self._audit_rows) + self._stored_audit
        stats.events_appended += appended
        if appended:
            self.db._events_committed(appended)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """This unit of work's connection (for repositories and lamina's own stores), for
        one task at a time: calls gathered in one unit of work (``asyncio.gather(repo.get(a),
        repo.get(b))``) take their turns, as they do on SQLite's one connection thread,
        rather than meet on one PostgreSQL connection (which allows one operation at a
        time). Re-entered by the task that has it, it is simply given again."""
        if self._conn is None:
            raise RuntimeError("use the unit of work inside 'async with' first")
        task = asyncio.current_task()
        if self._user is not None and self._user is task:
            yield self._conn
            return
        async with self._turn:
            self._user = task
            try:
                yield self._conn
            except BaseException as exc:
                if is_connection_error(exc):
                    raise ConnectionLost("the database connection was lost") from exc
                raise
            finally:
                self._user = None

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[UnitOfWork]:
        """This unit of work itself: writes join its transaction."""
        if self.read_only:
            raise RuntimeError("this unit of work is read-only")
        yield self

    async def serialize(self, *key: object) -> None:
        """Hold a lock named by ``key`` until this unit of work ends: units of work that
        serialize on the same key run one after another from here on, so what one checks
        before it writes (no cycle in a graph, a count under a limit) still holds when it
        commits. On PostgreSQL a transaction-scoped advisory lock (the key hashed to 64 bits);
        on SQLite a writing unit of work holds the one writer lock from its start already."""
        if self.read_only:
            raise RuntimeError("this unit of work is read-only")
        if self.dialect_name != "postgresql":
            return
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        async with self.connection() as conn:
            await conn.execute(_SERIALIZE, [int.from_bytes(digest, "big", signed=True)])

    def record_audit(self, *rows: list[Any]) -> None:
        """Queue audit entries (built by :mod:`lamina.persistence.audit`'s ``audit_row(s)``)."""
        self._audit_rows.extend(rows)

    def count_stored_audit(self, count: int) -> None:
        """Count audit entries a statement of this unit wrote itself (in its statistics)."""
        self._stored_audit += count

    def redact_queued_audit(self, entity_type: str, entity_id: object) -> None:
        """Mask the values of the audit entries of one entity queued in this unit (an
        erasure in the unit that also changed it)."""
        key = str(entity_id)
        at = audit.AUDIT_COLUMNS.index("changes")
        for row in self._audit_rows:
            if row[1] == entity_type and row[2] == key:
                row[at] = audit.redacted_text(row[at])

    def publish(
        self,
        event: DomainEvent,
        *,
        priority: EventPriority | None = None,
        context: EventContext | None = None,
    ) -> None:
        """Raise ``event``: it is appended to the event store if, and when, this unit commits.

        The event carries the unit's :class:`EventContext` (or ``context``) and
        its class's default priority unless ``priority`` is given.
        """
        if self._conn is None:
            raise RuntimeError("publish events inside 'async with' of the unit of work")
        self._events.append(
            (
                event,
                priority if priority is not None else type(event).default_priority,
                context or self.context,
            )
        )

    @property
    def pending_events(self) -> list[DomainEvent]:
        """Events raised so far and not yet committed."""
        return [e for e, _, _ in self._events]
