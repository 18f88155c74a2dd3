"""Inserts through a repository: one row (one statement on PostgreSQL), many rows (their
audit entries built by the database where it can, G4), and upserts."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from pydantic_core import to_json
from sqlalchemy import (
    Integer,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    Uuid,
    bindparam,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lamina.domain.context import EventContext
from lamina.domain.entity import SERVER_OWNED, Entity, utcnow
from lamina.domain.errors import AlreadyExists, InvalidInput
from lamina.domain.ids import uuid7_run
from lamina.persistence import audit
from lamina.persistence.audit import AuditAction
from lamina.persistence.audited_writes import (
    ENTRY_PREFIX,
    ROW_PREFIX,
    AuditedInsert,
    build_audited_rows_insert,
    build_creation_entries,
)
from lamina.persistence.connection import (
    COPY_THRESHOLD,
    Batch,
    Connection,
    InsertRows,
    OnError,
    Row,
)
from lamina.persistence.database import Database
from lamina.persistence.tables import audit_log
from lamina.persistence.unit_of_work import UnitOfWork
from lamina.persistence.unread_changes import FieldColumn, plain_column
from lamina.persistence.write_support import WritingRepository

E = TypeVar("E", bound=Entity)
R = TypeVar("R")


_STORED_CREATIONS: dict[type[Any], tuple[tuple[FieldColumn, ...], tuple[str, ...]] | None] = {}
"""Per repository class: how the database builds the creation entries of a bulk insert."""

BULK_CHUNK = 2_000
"""Rows per statement of a bulk insert whose audit entries the database builds."""

AUDIT_SLICE = 2_000
"""Audit entries of a bulk insert are built this many at a time while its rows are written."""


async def _built_while(
    running: Awaitable[None], build: Callable[[int, int], list[Any]], count: int
) -> list[Any]:
    """``build(start, stop)`` over ``range(count)`` in slices of :data:`AUDIT_SLICE`,
    while ``running`` runs in a task of its own; the built items once both are done.

    Each slice starts by yielding to the loop, so the task gets to send its rows
    first; the database then stores them (PostgreSQL, in its own process) while
    the slices are built: a bulk insert's audit entries cost little wall time.
    """
    task = asyncio.ensure_future(running)
    built: list[Any] = []
    try:
        for start in range(0, count, AUDIT_SLICE):
            await asyncio.sleep(0)
            built += build(start, min(start + AUDIT_SLICE, count))
    except BaseException:
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the error being raised is the one to report
        raise
    await task
    return built


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a batch (it runs again after).

    Building thousands of small objects triggers collections that find nothing
    to collect; reference counting still frees everything as usual. Nested or
    overlapping pauses (other tasks) are safe: only the one that found the
    collector enabled enables it again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Inserts(WritingRepository[E, R]):
    """The inserts of :class:`~lamina.persistence.Repository`."""

    async def add(self, entity: E) -> E:
        """Insert a new entity and return it as stored (timestamps, version 1, actor set).

        Raises :class:`AlreadyExists` naming the fields of a broken unique
        rule, :class:`ReferenceMissing` for a missing foreign key.
        """
        target = self.target
        if isinstance(target, Database):
            if target.dialect_name == "postgresql":
                return await self._add_alone(target, entity)
            return await self._add_on_sqlite(target, entity)
        async with self._write() as (uow, conn):
            (stored,) = await self._insert_new(uow, conn, [entity])
        return stored

    async def _add_alone(self, db: Database, entity: E) -> E:
        """Insert ``entity`` and its audit entry in one statement, outside any
        transaction: one round trip (PostgreSQL, :mod:`~lamina.persistence.audited_writes`)."""
        context = EventContext.current()
        now = utcnow()
        with self._translated():  # values are checked (and converted) on the way
            (stored,), columns, rows = self._stamp_new([entity], context, now)
            entries = self._creation_entries([stored], context, now)
            if entries:
                statements, table = self.statements, self.table()
                audited = statements.prepared(
                    (type(self), "audited-insert", columns),
                    lambda: AuditedInsert.compile(statements, table, columns),
                )
                sql = audited.statement.sql
                args = audited.arguments(rows[0], entries[0])
            else:
                plain = self._insert_rows(columns, rows)
                sql, args = plain.sql, list(plain.rows[0])
            async with db.connection(writes=True) as conn:
                await conn.execute(sql, args)
        db.stats.transactions += 1
        db.stats.audit_entries += len(entries)
        return stored

    async def _add_on_sqlite(self, db: Database, entity: E) -> E:
        """Insert ``entity`` and its audit entry in a write transaction of their own, with
        BEGIN IMMEDIATE and COMMIT in one hop (SQLite, :meth:`Database.write_alone`)."""
        context = EventContext.current()
        now = utcnow()
        with self._translated():  # values are checked (and converted) on the way
            (stored,), columns, rows = self._stamp_new([entity], context, now)
            writes: list[tuple[Batch, OnError | None, list[Row] | None]] = [
                (self._insert_rows(columns, rows), self._domain_error, None)
            ]
            entries = self._creation_entries([stored], context, now)
            if entries:
                stmt = self.statements.get(audit.INSERT_KEY, audit.build_insert)
                writes.append((stmt.insert_rows(audit_log, entries), None, None))
            await db.write_alone(writes, audit_entries=len(entries))
        return stored

    async def add_many(self, entities: Sequence[E]) -> list[E]:
        """Insert many entities in one round trip per batch (COPY on PostgreSQL).

        Each row gets its own audit entry, written in the same transaction.
        """
        if not entities:
            return []
        # Rows, arguments and audit entries are many short-lived objects: with the
        # cyclic GC paused until they are written (and freed), it never scans them.
        with gc_paused():
            async with self._write() as (uow, conn):
                return await self._insert_new(uow, conn, entities)

    async def _insert_new(
        self, uow: UnitOfWork, conn: Connection, entities: Sequence[E]
    ) -> list[E]:
        """Insert ``entities`` and queue their audit entries; the entities as stored."""
        now = utcnow()
        context = uow.context
        creations = self._stored_creations() if len(entities) >= COPY_THRESHOLD else None
        if creations is not None:
            stored = await self._insert_in_chunks(conn, creations, entities, context, now)
            uow.count_stored_audit(len(stored))
            return stored
        stored, columns, rows = self._stamp_new(entities, context, now)
        insert = self._insert_rows(columns, rows)
        if not self.audited or len(stored) <= AUDIT_SLICE:
            entries = self._creation_entries(stored, context, now)
            # A standalone add on SQLite: sent with the commit (the call raises what it breaks)
            if not (self._standalone and conn.stage(insert, self._domain_error)):
                await conn.insert_rows(insert)
        else:
            entries = await _built_while(
                conn.insert_rows(insert),
                lambda start, stop: self._creation_entries(stored[start:stop], context, now),
                len(stored),
            )
        uow.record_audit(*entries)
        return stored

    def _stored_creations(self) -> tuple[tuple[FieldColumn, ...], tuple[str, ...]] | None:
        """The columns and masked fields of the creation entries the database can build
        from inserted rows (:func:`~lamina.persistence.audited_writes.build_creation_entries`):
        every business field a plain column or sensitive; None if one is not (or this
        repository is not audited)."""
        if not self.audited:
            return None
        if type(self) not in _STORED_CREATIONS:
            mapper = self.mapper()
            names = self._creation_changes_of().names
            masked = tuple(n for n in names if n in mapper.sensitive)
            columns = [plain_column(n, mapper) for n in names if n not in masked]
            plain = [c for c in columns if c is not None]
            key_type = self._pk.type
            keyed = isinstance(key_type, Uuid | Integer)
            found = (tuple(plain), masked) if keyed and len(plain) == len(columns) else None
            _STORED_CREATIONS[type(self)] = found
        return _STORED_CREATIONS[type(self)]

    async def _insert_in_chunks(
        self,
        conn: Connection,
        creations: tuple[tuple[FieldColumn, ...], tuple[str, ...]],
        entities: Sequence[E],
        context: EventContext,
        now: datetime,
    ) -> list[E]:
        """Insert ``entities`` with the creation entries the database builds, in chunks of
        :data:`BULK_CHUNK`: each chunk is made ready while the database stores the one
        before (PostgreSQL in its own process, SQLite in the connection's thread)."""
        stored: list[E] = []
        sending: asyncio.Future[None] | None = None
        try:
            for start in range(0, len(entities), BULK_CHUNK):
                chunk = entities[start : start + BULK_CHUNK]
                made, columns, rows = self._stamp_new(chunk, context, now)
                inserted = self._insert_rows(columns, rows)
                if sending is not None:
                    await sending
                writing = self._insert_with_entries(conn, creations, inserted, context, now)
                sending = asyncio.ensure_future(writing)
                await asyncio.sleep(0)  # the chunk is sent before the next one is made
                stored += made
            if sending is not None:
                await sending
        except BaseException:
            if sending is not None and not sending.done():
                sending.cancel()
                await asyncio.wait([sending])
            if sending is not None and sending.done() and not sending.cancelled():
                sending.exception()  # retrieved: the error being raised is the one to report
            raise
        return stored

    async def _insert_with_entries(
        self,
        conn: Connection,
        creations: tuple[tuple[FieldColumn, ...], tuple[str, ...]],
        inserted: InsertRows,
        context: EventContext,
        now: datetime,
    ) -> None:
        """Insert the rows of ``inserted`` and have the database write their creation
        entries from them: one statement on PostgreSQL, the rows' multi-row INSERT and
        an ``INSERT … SELECT`` on SQLite."""
        fields, masked = creations
        table = self.table()
        head, tail = uuid7_run(len(inserted.rows))
        params: dict[str, Any] = {
            "id_head": head,
            "id_tail": tail,
            ENTRY_PREFIX + "entity_type": self.entity_name(),
            ENTRY_PREFIX + "action": AuditAction.CREATE.value,
            ENTRY_PREFIX + "actor_id": context.actor_id,
            ENTRY_PREFIX + "correlation_id": context.correlation_id,
            ENTRY_PREFIX + "tenant_id": context.tenant_id,
            ENTRY_PREFIX + "occurred_at": now,
        }
        if self.target.dialect_name == "postgresql":
            columns = inserted.columns
            count = len(inserted.rows)
            constant = []
            for i, values in enumerate(zip(*inserted.rows, strict=True)):
                first = values[0]
                same = values[-1] is first and values.count(first) == count
                params[f"{ROW_PREFIX}{i}"] = first if same else values
                constant.append(same)
            shape = tuple(constant)
            stmt = self.statements.get(
                (type(self), "audited-rows-insert", columns, shape),
                lambda: build_audited_rows_insert(table, columns, shape, self._pk, fields, masked),
            )
            await stmt.execute(conn, params)
            return
        await conn.insert_rows(inserted)
        stmt = self.statements.get(
            (type(self), "creation-entries"),
            lambda: build_creation_entries(table, self._pk, fields, masked),
        )
        at = inserted.columns.index(self._pk.name)
        params["keys"] = to_json([row[at] for row in inserted.rows]).decode()
        await stmt.execute(conn, params)

    async def upsert(self, entity: E, *, on: Sequence[str]) -> E:
        """Insert ``entity``, or update the existing row with the same values of the ``on`` fields.

        ``on`` must name the fields of a unique constraint, or of a ``live_unique`` index
        (then only a live row is updated; soft-deleted ones do not count); else
        :class:`InvalidInput`. Returns the entity as stored. A soft-deleted row holding those
        values under a plain unique constraint raises :class:`AlreadyExists`.
        """
        mapper = self.mapper()
        on_columns = []
        for field in on:
            column = mapper.column_for(field)
            if column is None:
                raise InvalidInput.for_field(field, "unknown field")
            if mapper.encrypted(column.name) is not None:
                raise InvalidInput.for_field(field, "an encrypted field cannot be an upsert key")
            on_columns.append(column)
        table = self.table()
        where = _unique_where(table, {c.name for c in on_columns})
        if where is False:
            raise InvalidInput.for_field(
                on[0], f"no unique constraint of {self.entity_name()} is on exactly {list(on)}"
            )
        async with self._write() as (uow, conn):
            now = utcnow()
            (stored,), columns, rows = self._stamp_new([entity], uow.context, now)
            values = dict(zip(columns, rows[0], strict=True))
            make_insert = pg_insert if self.target.dialect_name == "postgresql" else sqlite_insert
            stmt = self.statements.get(
                (type(self), "upsert", columns, tuple(c.name for c in on_columns)),
                lambda: (
                    make_insert(table)
                    .values({c: bindparam(c, type_=table.c[c].type) for c in columns})
                    .on_conflict_do_nothing(index_elements=on_columns, index_where=where)
                    .returning(self._pk)
                ),
            )
            if await stmt.fetch(conn, values):
                uow.record_audit(*self._creation_entries([stored], uow.context, now))
                return stored
            match = self.statements.get(
                (type(self), "upsert-match", tuple(c.name for c in on_columns)),
                lambda: select(self._pk).where(
                    *[c == bindparam(f"m_{c.name}", type_=c.type) for c in on_columns],
                    *([] if where is None else [table.c.deleted_at.is_(None)]),  # the live one
                ),
            )
            found = await match.fetch(conn, {f"m_{c.name}": values[c.name] for c in on_columns})
            existing = await self._locked(conn, found[0][self._pk.name], "live") if found else None
            if existing is None:  # soft-deleted: not brought back by a write
                raise AlreadyExists(self.entity_name(), list(on))
            owned = self.entity.fields_marked(SERVER_OWNED) | set(on) | set(self.relations)
            changes = {f: getattr(entity, f) for f in mapper.fields if f not in owned}
            return await self._apply(uow, conn, existing, changes, {}, AuditAction.UPDATE)


def _unique_where(table: Table, columns: set[str]) -> Any:
    """The predicate of the unique rule on exactly ``columns`` (None for a plain unique
    constraint or index; ``deleted_at IS NULL`` for a ``live_unique`` one), False if none."""
    for constraint in table.constraints:
        if (
            isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint)
            and {c.name for c in constraint.columns} == columns
        ):
            return None
    for index in table.indexes:
        if index.unique and {c.name for c in index.columns} == columns:
            options = index.dialect_options
            found = options["postgresql"].get("where")
            return found if found is not None else options["sqlite"].get("where")
    return False
