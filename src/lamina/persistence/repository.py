"""``Repository[Entity, Row]``: the reads of :class:`ReadOnlyRepository` plus every write.

Each write leaves one audit entry per row in the same transaction (G4); an
update or delete naming a stale version writes nothing and raises
:class:`VersionConflict` (G2); server-owned fields are set here, from the clock
and the current :class:`EventContext`, never from the caller (G12).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import ValidationError
from pydantic_core import to_json, to_jsonable_python
from sqlalchemy import (
    Column,
    Integer,
    Uuid,
    bindparam,
    delete,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lamina.domain.context import EventContext
from lamina.domain.entity import MASK, SERVER_OWNED, Entity, utcnow
from lamina.domain.errors import (
    AlreadyExists,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    VersionConflict,
)
from lamina.domain.events import EntityErased
from lamina.domain.ids import uuid7_run
from lamina.persistence import audit
from lamina.persistence.audit import AuditAction, audit_row, audit_rows, changes_between
from lamina.persistence.audited_writes import (
    ENTRY_PREFIX,
    NEW_PREFIX,
    ROW_PREFIX,
    audited_insert_params,
    build_audited_insert,
    build_audited_rows_insert,
    build_creation_entries,
    build_versioned_update,
    versioned_update_params,
)
from lamina.persistence.connection import COPY_THRESHOLD, Connection, InsertRows
from lamina.persistence.creation_changes import CreationChanges
from lamina.persistence.database import Database
from lamina.persistence.errors import is_foreign_key_violation
from lamina.persistence.mapping import storable
from lamina.persistence.queries import invalid_from_validation
from lamina.persistence.read_repository import ReadOnlyRepository, Visibility
from lamina.persistence.unit_of_work import UnitOfWork
from lamina.persistence.unread_changes import FieldColumn, UnreadChanges, plain_column

E = TypeVar("E", bound=Entity)
R = TypeVar("R")


_CREATION_CHANGES: dict[type[Any], CreationChanges] = {}
"""Per repository class: how a creation's audit entry lists the business fields."""

_STORED_CREATIONS: dict[type[Any], tuple[tuple[FieldColumn, ...], tuple[str, ...]] | None] = {}
"""Per repository class: how the database builds the creation entries of a bulk insert."""

_UNREAD: dict[type[Any], UnreadChanges] = {}
"""Per repository class: which changes are written without reading the row first."""

_UPDATE_NOISE = frozenset({"updated_at", "updated_by_id", "version"})

_UNLOCKED_ATTEMPTS = 5
"""Reads of a row that keeps moving on before a change without expected version gives up."""

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


class Repository(ReadOnlyRepository[E, R]):
    """Reads and writes of one entity type (see :class:`ReadOnlyRepository` for declaring one).

    ``touchable`` names activity markers (a conversation's ``last_activity_at``)
    that :meth:`touch` moves forward without a new version or an audit entry.
    """

    touchable: ClassVar[Sequence[str]] = ()
    derived: ClassVar[Sequence[str]] = ()
    """Fields a projection keeps (a course's ``rating``), set by :meth:`set_derived` alone."""

    # ------------------------------------------------------------------ helpers

    def _entity_has(self, field: str) -> bool:
        return field in self.entity.model_fields

    def _server_values(
        self, names: Sequence[str], values: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split server values into entity field changes and raw column values."""
        fields: dict[str, Any] = {}
        columns: dict[str, Any] = {}
        for name in names:
            if not self.has(name):
                continue
            if self._entity_has(name):
                fields[name] = values[name]
            else:
                columns[name] = values[name]
        return fields, columns

    def _stamp_new(
        self, entities: Sequence[E], context: EventContext, now: datetime
    ) -> tuple[list[E], tuple[str, ...], list[list[Any]]]:
        """New entities with their server fields set, the insert's columns, and its rows."""
        server = {
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
            "created_by_id": context.actor_id,
            "updated_by_id": context.actor_id,
            "version": 1,
        }
        fields, columns = self._server_values(tuple(server), server)
        mapper = self.mapper()
        extra = list(columns.values())
        for entity in entities:
            if not isinstance(entity, self.entity):
                raise TypeError(f"expected {self.entity.__name__}, got {type(entity).__name__}")
        stored = Entity._with_trusted(entities, fields) if fields else list(entities)
        values = mapper.values
        encryption = mapper.encryption
        if encryption is not None:
            rows = [values(new) for new in stored]
            encryption.seal_rows(rows, self.keyring)
            for row in rows:
                row += extra
            names = mapper.columns + encryption.blind_index_columns + tuple(columns)
            return stored, names, rows
        rows = [values(new) + extra for new in stored] if extra else [values(new) for new in stored]
        return stored, mapper.columns + tuple(columns), rows

    def _snapshot(self, entity: E, *, masked: bool = True) -> dict[str, Any]:
        data = entity.model_dump(mode="json", exclude=set(self.relations))
        data.pop("id", None)
        if masked:
            for name in self.mapper().sensitive & data.keys():
                data[name] = MASK
        return data

    def _creation_changes_of(self) -> CreationChanges:
        """How this repository's creation entries list the business fields."""
        build = _CREATION_CHANGES.get(type(self))
        if build is None:
            owned = self.entity.fields_marked(SERVER_OWNED) | set(self.relations)
            build = _CREATION_CHANGES[type(self)] = CreationChanges(
                self.entity, set(self.entity.model_fields) - owned, self.mapper().sensitive
            )
        return build

    def _creation_changes(self, entities: Sequence[E]) -> list[dict[str, list[Any]]]:
        """Audit changes of creations: every business field, from nothing to its value."""
        return self._creation_changes_of()(entities)

    def _creation_entries(
        self, stored: Sequence[E], context: EventContext, at: datetime
    ) -> list[list[Any]]:
        """The audit entries of newly stored entities (none if this repository is not audited)."""
        if not self.audited:
            return []
        changes = self._creation_changes(stored)
        changed = [(entity.id, change) for entity, change in zip(stored, changes, strict=True)]
        return audit_rows(self.entity_name(), changed, AuditAction.CREATE, context, at)

    def _audit(
        self, uow: UnitOfWork, entity_id: Any, action: AuditAction, changes: dict[str, list[Any]]
    ) -> None:
        if self.audited:
            uow.record_audit(
                audit_row(self.entity_name(), entity_id, action, changes, uow.context, utcnow())
            )

    def _insert_rows(self, columns: tuple[str, ...], rows: list[list[Any]]) -> InsertRows:
        """The INSERT of ``rows`` (values given in the order of ``columns``), ready to send."""
        table = self.table()
        stmt = self.statements.get(
            (type(self), "insert", columns),
            lambda: insert(table).values({c: bindparam(c, type_=table.c[c].type) for c in columns}),
        )
        if stmt.names != columns:  # SQLAlchemy lists the columns in table order
            order = [columns.index(name) for name in stmt.names]
            rows = [[row[i] for i in order] for row in rows]
        return stmt.insert_rows(table, rows)

    async def _locked(
        self,
        conn: Connection,
        id: Any,
        visibility: Visibility,
        *,
        deleting: bool = False,
        locking: bool = True,
    ) -> E | None:
        """The row of ``id`` (in scope), locked for the write to come on PostgreSQL.

        An INSERT of a child row takes ``FOR KEY SHARE`` on the parent its
        foreign key names. Only a delete (``deleting``) locks ``FOR UPDATE``,
        which conflicts with that; a change locks ``FOR NO KEY UPDATE``, which
        does not, so "insert a child, then change its parent" in concurrent
        transactions queue on the parent instead of deadlocking (G15). The rare
        change that really alters a key column (primary key, unique constraint
        or index) has its UPDATE take ``FOR UPDATE`` itself; should that meet a
        cycle, PostgreSQL breaks it and :meth:`Database.run` retries the unit.
        SQLite has no row locks: its write transaction holds the whole file.
        Without ``locking``, the row is only read (for a write that checks its version).
        """

        def build() -> Any:
            stmt = select(*self._columns()).where(
                self._pk == bindparam("id", type_=self._pk.type), *self._where(None, visibility)
            )
            return stmt.with_for_update(key_share=not deleting) if locking else stmt

        stmt = self.statements.get(self._key("locked", visibility, deleting, locking), build)
        rows = await stmt.fetch_values(conn, self._params(None, id=id))
        return self._entities(rows)[0] if rows else None

    def check_version(self, current: E, expected: int | None) -> None:
        """Raise :class:`VersionConflict` unless ``current`` is at version ``expected``
        (None, or an unversioned entity: no check). For use cases that decide on a
        row read ``for_update`` before they change it (G2)."""
        if expected is None or not self._entity_has("version"):
            return
        actual = getattr(current, "version")  # noqa: B009 - the field is optional on entities
        if actual != expected:
            db = self.target.db if isinstance(self.target, UnitOfWork) else self.target
            db.stats.version_conflicts += 1
            raise VersionConflict(self.entity_name(), current.id, expected, actual)

    # ------------------------------------------------------------------ creates

    async def add(self, entity: E) -> E:
        """Insert a new entity and return it as stored (timestamps, version 1, actor set).

        Raises :class:`AlreadyExists` naming the fields of a broken unique
        rule, :class:`ReferenceMissing` for a missing foreign key.
        """
        if isinstance(self.target, Database) and self.target.dialect_name == "postgresql":
            return await self._add_alone(self.target, entity)
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
                table = self.table()
                stmt = self.statements.get(
                    (type(self), "audited-insert", columns),
                    lambda: build_audited_insert(table, columns),
                )
                sql = stmt.sql
                args = stmt.arguments(audited_insert_params(columns, rows[0], entries[0]))
            else:
                plain = self._insert_rows(columns, rows)
                sql, args = plain.sql, list(plain.rows[0])
            async with db.connection(writes=True) as conn:
                await conn.execute(sql, args)
        db.stats.transactions += 1
        db.stats.audit_entries += len(entries)
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

        ``on`` must name a unique constraint. Returns the entity as stored.
        A soft-deleted row holding those values raises :class:`AlreadyExists`.
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
                    .on_conflict_do_nothing(index_elements=on_columns)
                    .returning(self._pk)
                ),
            )
            if await stmt.fetch(conn, values):
                uow.record_audit(*self._creation_entries([stored], uow.context, now))
                return stored
            match = self.statements.get(
                (type(self), "upsert-match", tuple(c.name for c in on_columns)),
                lambda: select(self._pk).where(
                    *[c == bindparam(f"m_{c.name}", type_=c.type) for c in on_columns]
                ),
            )
            found = await match.fetch(conn, {f"m_{c.name}": values[c.name] for c in on_columns})
            existing = await self._locked(conn, found[0][self._pk.name], "all") if found else None
            if existing is None or getattr(existing, "deleted_at", None) is not None:
                raise AlreadyExists(self.entity_name(), list(on))
            owned = self.entity.fields_marked(SERVER_OWNED) | set(on) | set(self.relations)
            changes = {f: getattr(entity, f) for f in mapper.fields if f not in owned}
            return await self._apply(uow, conn, existing, changes, {}, AuditAction.UPDATE)

    # ------------------------------------------------------------------ changes

    async def update(
        self, id: UUID, changes: Mapping[str, Any], *, expected_version: int | None = None
    ) -> E:
        """Change some fields of one entity and return it as stored.

        With ``expected_version``, a row that has moved on raises
        :class:`VersionConflict` and nothing is written (G2). Values are
        validated by the entity's rules (:class:`InvalidInput`); server-owned
        fields cannot be changed this way.
        """
        owned = self.entity.fields_marked(SERVER_OWNED) & changes.keys()
        if owned:
            raise InvalidInput(
                "server-owned fields cannot be changed",
                [FieldError(f, "set by the server") for f in sorted(owned)],
            )
        unknown = changes.keys() - set(self.mapper().fields)
        if unknown:
            raise InvalidInput(
                "unknown fields", [FieldError(f, "unknown field") for f in sorted(unknown)]
            )
        return await self._change(id, dict(changes), expected_version, "live", AuditAction.UPDATE)

    async def save(self, entity: E) -> E:
        """Store the changes made to ``entity`` (e.g. with ``evolve``) since it was read.

        The version it carries is the expected version.
        """
        owned = self.entity.fields_marked(SERVER_OWNED) | set(self.relations)
        changes = {f: getattr(entity, f) for f in self.mapper().fields if f not in owned}
        return await self._change(
            entity.id, changes, getattr(entity, "version", None), "live", AuditAction.UPDATE
        )

    async def delete(self, id: UUID, *, expected_version: int | None = None) -> None:
        """Delete one entity: soft (sets ``deleted_at``) if the table has it, else for good."""
        if not self.has("deleted_at"):
            await self.hard_delete(id, expected_version=expected_version)
            return
        await self._change(id, {}, expected_version, "live", AuditAction.DELETE)

    async def restore(self, id: UUID, *, expected_version: int | None = None) -> E:
        """Bring back a soft-deleted entity."""
        if not self.has("deleted_at"):
            raise TypeError(f"{self.entity_name()} rows cannot be soft-deleted, so not restored")
        return await self._change(id, {}, expected_version, "deleted", AuditAction.RESTORE)

    async def hard_delete(self, id: UUID, *, expected_version: int | None = None) -> None:
        """Remove one entity's row for good (soft-deleted ones included)."""
        async with self._write() as (uow, conn):
            current = await self._delete_row(uow, conn, id, expected_version)
            self._audit(
                uow,
                id,
                AuditAction.HARD_DELETE,
                {k: [v, None] for k, v in self._snapshot(current).items()},
            )

    async def erase(self, id: UUID, *, expected_version: int | None = None) -> None:
        """Erase one entity's data for good: the right to erasure of personal data.

        In one unit of work: the row is deleted (soft-deleted ones included);
        every audit entry of the entity keeps its action, actor, time and the
        names of the fields it changed, but no values (entries queued earlier in
        the same unit too); an ``erase`` entry is added (field names only); and
        an :class:`~lamina.domain.EntityErased` event is published so that
        projections holding copies can drop them. Not reached: backups, logs
        kept elsewhere, and event payloads that copied the values (publish
        identifiers, not personal data, in events).
        """
        async with self._write() as (uow, conn):
            current = await self._delete_row(uow, conn, id, expected_version)
            if self.audited:
                entity_type = self.entity_name()
                await audit.redact_history(conn, uow, entity_type, id)
                uow.redact_queued_audit(entity_type, id)
                self._audit(uow, id, AuditAction.ERASE, audit.redacted(self._snapshot(current)))
            uow.publish(EntityErased(entity_type=self.entity_name(), entity_id=str(id)))

    async def _delete_row(
        self, uow: UnitOfWork, conn: Connection, id: UUID, expected_version: int | None
    ) -> E:
        """Delete the row of ``id`` (live or soft-deleted); the entity it held."""
        current = await self._locked(conn, id, "all", deleting=True)
        if current is None:
            raise NotFound(self.entity_name(), id)
        self.check_version(current, expected_version)
        stmt = self.statements.get(
            self._key("hard_delete"),
            lambda: delete(self.table()).where(
                self._pk == bindparam("id", type_=self._pk.type), *self._where(None, "all")
            ),
        )
        try:
            await stmt.execute(conn, self._params(None, id=id))
        except Exception as exc:
            if is_foreign_key_violation(exc):  # other rows still refer to this one
                raise Conflict(
                    f"{self.entity_name()} {id} is still referred to and cannot be deleted"
                ) from exc
            raise
        uow.db.stats.hard_deletes += 1
        return current

    def _side_column(self, field: str, use: str) -> Column[Any]:
        """The plain column of ``field`` for a write beside the versioned path (``touch``,
        ``set_derived``): not the key, not the version, not encrypted."""
        column = self.mapper().column_for(field)
        if column is not None and self.mapper().encrypted(column.name) is not None:
            raise ValueError(f"{field!r} is encrypted and cannot be {use}")
        if column is None or column.primary_key or column.name == "version":
            raise ValueError(f"{field!r} is not a plain column and cannot be {use}")
        return column

    async def touch(self, id: UUID, field: str, value: Any) -> bool:
        """Move the activity marker ``field`` of a live row forward to ``value``.

        For a parent that every child write marks (a conversation's
        ``last_activity_at`` on each message): one ``UPDATE`` that writes only
        if ``value`` is later than what the row holds (or it holds nothing), so
        markers never move back however commits interleave. It takes no new
        version, writes no audit entry and leaves ``updated_at`` alone: the
        child's own entry records the activity, and a client's ``If-Match`` on
        the parent stays valid while others post. ``field`` must be declared in
        ``touchable``. Returns whether the row moved (False if it is
        missing, deleted, out of scope or already as late).
        """
        if field not in self.touchable:
            raise ValueError(f"{type(self).__name__}.touchable does not name {field!r}")
        column = self._side_column(field, "touched")
        table = self.table()

        def build() -> Any:
            marker = table.c[column.name]
            moved = bindparam("value", type_=marker.type)
            return (
                update(table)
                .where(
                    self._pk == bindparam("id", type_=self._pk.type),
                    *self._where(None, "live"),
                    marker.is_(None) | (marker < moved),
                )
                # Columns with an ``onupdate`` default are set to themselves: kept as they are.
                .values({**{c.name: c for c in table.c if c.onupdate}, column.name: moved})
            )

        stmt = self.statements.get(self._key("touch", column.name), build)
        try:
            value = self.mapper().adapter(field).validate_python(value)
        except ValidationError as exc:
            raise invalid_from_validation(field, exc) from None
        params = self._params(None, id=id, value=storable(value, column))
        async with self._write() as (_, conn):
            return await stmt.execute(conn, params) == 1

    async def set_derived(self, id: UUID, values: Mapping[str, Any]) -> bool:
        """Set derived fields of a live row: values a projection computes from other rows
        (a course's ``rating`` from its reviews, ``enrollment_count`` from its enrollments).

        One ``UPDATE`` of just those columns: no new version (a client's ``If-Match``
        stays valid), no audit entry (the writes it is derived from are audited),
        ``updated_at`` left alone. Each field must be declared in ``derived`` and is
        validated like any value of it (:class:`~lamina.domain.InvalidInput`). Being
        a plain overwrite, it suits values recomputed whole, so a replay or a batch
        handled twice leaves them right. Returns whether the row was found (False if
        it is missing, deleted or out of scope).
        """
        unknown = sorted(set(values) - set(self.derived))
        if unknown or not values:
            raise ValueError(f"{type(self).__name__}.derived does not name {unknown or 'any'}")
        mapper = self.mapper()
        columns: dict[str, Any] = {}
        for field, value in values.items():
            column = self._side_column(field, "derived")
            try:
                checked = mapper.adapter(field).validate_python(value)
            except ValidationError as exc:
                raise invalid_from_validation(field, exc) from None
            columns[column.name] = storable(checked, column)
        table = self.table()
        names = tuple(sorted(columns))

        def build() -> Any:
            return (
                update(table)
                .where(self._pk == bindparam("id", type_=self._pk.type), *self._where(None, "live"))
                .values(
                    {
                        **{c.name: c for c in table.c if c.onupdate},  # kept as they are
                        **{n: bindparam(f"v_{n}", type_=table.c[n].type) for n in names},
                    }
                )
            )

        stmt = self.statements.get(self._key("derived", names), build)
        params = self._params(None, id=id, **{f"v_{n}": columns[n] for n in names})
        async with self._write() as (_, conn):
            return await stmt.execute(conn, params) == 1

    async def _change(
        self,
        id: UUID,
        changes: dict[str, Any],
        expected_version: int | None,
        visibility: Visibility,
        action: AuditAction,
    ) -> E:
        target = self.target
        if target.dialect_name == "postgresql":
            unread = self._unread(changes, action)
            if unread is not None:
                return await self._change_unread(id, unread, expected_version, visibility, action)
            if isinstance(target, Database) and self.has("version") and self._entity_has("version"):
                return await self._change_alone(
                    target, id, changes, expected_version, visibility, action
                )
        async with self._write() as (uow, conn):
            current = await self._locked(conn, id, visibility)
            if current is None:
                raise NotFound(self.entity_name(), id)
            self.check_version(current, expected_version)
            raw = self._lifecycle_values(changes, action)
            if action is AuditAction.DELETE:
                uow.db.stats.soft_deletes += 1
            return await self._apply(uow, conn, current, changes, raw, action)

    def _lifecycle_values(self, changes: dict[str, Any], action: AuditAction) -> dict[str, Any]:
        """Put a delete's or restore's ``deleted_at`` into ``changes`` (or the raw column
        values returned, when the entity does not carry it)."""
        if action not in (AuditAction.DELETE, AuditAction.RESTORE):
            return {}
        at = utcnow() if action is AuditAction.DELETE else None
        fields, raw = self._server_values(("deleted_at",), {"deleted_at": at})
        changes.update(fields)
        return raw

    @staticmethod
    def _lifecycle_diff(raw: Mapping[str, Any], action: AuditAction) -> dict[str, list[Any]]:
        """The audit changes of raw lifecycle columns (``deleted_at`` the entity does not carry)."""
        diff: dict[str, list[Any]] = {}
        for name, value in raw.items():
            stored = value.isoformat() if isinstance(value, datetime) else value
            diff[name] = [None, stored] if action is AuditAction.DELETE else ["set", stored]
        return diff

    def _new_values(self, set_columns: Sequence[str]) -> dict[str, Any]:
        """The SET clause of a versioned change: ``v_<column>`` parameters, version + 1."""
        table = self.table()
        values: dict[str, Any] = {
            c: bindparam(f"v_{c}", type_=table.c[c].type) for c in set_columns
        }
        if self.has("version"):
            values["version"] = table.c.version + literal_column("1")
        return values

    def _checked_where(self, visibility: Visibility, check_version: bool) -> list[Any]:
        """The conditions a changed row must meet: visibility, scope and, if asked, version."""
        where = self._where(None, visibility)
        if check_version:
            version = self.table().c.version
            where.append(version == bindparam("old_version", type_=version.type))
        return where

    # ------------------------------------------------------------------ unread changes

    def _unread(
        self, changes: dict[str, Any], action: AuditAction
    ) -> tuple[dict[str, Any], dict[str, Any], tuple[FieldColumn, ...]] | None:
        """``changes`` (with a lifecycle's ``deleted_at``) validated, the lifecycle's raw column
        values and the changed columns, when the change can be written without reading the
        row first (:mod:`~lamina.persistence.unread_changes`); else None."""
        unread = _UNREAD.get(type(self))
        if unread is None:
            unread = _UNREAD[type(self)] = UnreadChanges(self.mapper())
        pending = dict(changes)
        raw = self._lifecycle_values(pending, action)
        if not pending and not raw:
            return None
        columns = unread.columns(pending)
        if columns is None:
            return None
        return unread.validated(pending), raw, columns

    async def _change_unread(
        self,
        id: UUID,
        unread: tuple[dict[str, Any], dict[str, Any], tuple[FieldColumn, ...]],
        expected_version: int | None,
        visibility: Visibility,
        action: AuditAction,
    ) -> E:
        """A change written by one statement that reads the old values itself
        (:func:`~lamina.persistence.audited_writes.build_versioned_update`), PostgreSQL.

        Outside a unit of work it is the whole write, audit entry included, in one round
        trip; in one, its entry (built from the old values returned) is queued for the
        commit. Only when it changes nothing is the row read: to tell a missing row
        (:class:`NotFound`) from a stale version (:class:`VersionConflict`) and from a
        change that leaves every value as it is (the entity returned as it is).
        """
        values, raw, compared = unread
        target = self.target
        standalone = isinstance(target, Database)
        context = target.context if isinstance(target, UnitOfWork) else EventContext.current()
        check_version = expected_version is not None and self._entity_has("version")
        in_statement = standalone and self.audited
        now = utcnow()
        server = {"updated_at": now, "updated_by_id": context.actor_id}
        _, server_raw = self._server_values(tuple(server), server)
        server_fields = {n: server[n] for n in server if self.has(n) and n not in server_raw}
        mapper = self.mapper()
        with self._translated():
            columns = {
                **mapper.column_values({**values, **server_fields}),
                **raw,
                **server_raw,
            }
        set_columns = tuple(columns)
        returned = self._columns()
        table = self.table()
        stmt = self.statements.get(
            self._key("unread", visibility, set_columns, check_version, bool(raw), in_statement),
            lambda: build_versioned_update(
                table,
                self._pk,
                self._checked_where(visibility, check_version),
                self._new_values(set_columns),
                compared,
                returned,
                audited=in_statement,
                always=bool(raw),
            ),
        )
        params = self._params(None, id=id, **{f"v_{c}": v for c, v in columns.items()})
        if check_version:
            params["old_version"] = expected_version
        known = self._lifecycle_diff(raw, action)
        entry = None
        if in_statement:
            (entry,) = audit_rows(self.entity_name(), [(id, known)], action, context, now)
            for column in compared:
                if not column.sensitive:
                    params[NEW_PREFIX + column.column] = to_json(values[column.field]).decode()
        for _ in range(_UNLOCKED_ATTEMPTS):
            with self._translated():
                async with self._unread_connection() as (uow, conn):
                    rows = await stmt.fetch_values(conn, versioned_update_params(params, entry))
                    if rows:
                        (stored,) = self._entities([rows[0][: len(returned)]])
                        if uow is not None and self.audited:
                            olds = rows[0][len(returned) :]
                            diff = self._found_diff(values, compared, olds)
                            self._audit(uow, id, action, {**diff, **known})
                        self._count_change(action, standalone)
                        return stored
                    current = await self._locked(conn, id, visibility, locking=False)
            if current is None:
                raise NotFound(self.entity_name(), id)
            self.check_version(current, expected_version)
            if not raw and all(getattr(current, f) == v for f, v in values.items()):
                return current  # nothing to change
            # Changed by another writer between the statement and the read: again.
        raise VersionConflict(self.entity_name(), id, expected_version or 0, None)

    @asynccontextmanager
    async def _unread_connection(self) -> AsyncIterator[tuple[UnitOfWork | None, Connection]]:
        """The unit of work's connection, or (standalone) one for a statement that commits
        on its own."""
        target = self.target
        if isinstance(target, Database):
            async with target.connection(writes=True) as conn:
                yield None, conn
        else:
            async with target.writing() as uow, uow.connection() as conn:
                yield uow, conn

    def _count_change(self, action: AuditAction, standalone: bool) -> None:
        stats = self._database().stats
        if standalone:
            stats.transactions += 1
            stats.audit_entries += 1 if self.audited else 0
        stats.soft_deletes += 1 if action is AuditAction.DELETE else 0

    @staticmethod
    def _found_diff(
        values: Mapping[str, Any], compared: Sequence[FieldColumn], olds: Sequence[Any]
    ) -> dict[str, list[Any]]:
        """The audit changes of the compared fields whose old value differs from the new one."""
        diff: dict[str, list[Any]] = {}
        for column, old in zip(compared, olds, strict=True):
            new = values[column.field]
            if old != new:
                diff[column.field] = (
                    [MASK, MASK]
                    if column.sensitive
                    else [to_jsonable_python(old), to_jsonable_python(new)]
                )
        return diff

    # ------------------------------------------------------------------ changes after a read

    async def _change_alone(
        self,
        db: Database,
        id: UUID,
        changes: dict[str, Any],
        expected_version: int | None,
        visibility: Visibility,
        action: AuditAction,
    ) -> E:
        """A versioned change outside any unit of work (PostgreSQL) whose values need the
        row (validators across fields, value objects, encrypted or JSON fields): the row is
        read, then changed with its audit entry in one statement whose conditions check the
        version read, so nothing is locked between the two round trips and no BEGIN or
        COMMIT is sent. A row that moves on in between is a :class:`VersionConflict` when
        the caller named a version, and is read again when it did not."""
        context = EventContext.current()
        table = self.table()
        for _ in range(_UNLOCKED_ATTEMPTS):
            with self._translated():
                async with db.connection(writes=True) as conn:
                    current = await self._locked(conn, id, visibility, locking=False)
                    if current is None:
                        raise NotFound(self.entity_name(), id)
                    self.check_version(current, expected_version)
                    pending = dict(changes)
                    raw = self._lifecycle_values(pending, action)
                    planned = self._planned_update(context, current, pending, raw, action)
                    if planned is None:
                        return current
                    set_columns, params, diff, updated = planned
                    entry = None
                    if self.audited:
                        (entry,) = audit_rows(
                            self.entity_name(), [(current.id, diff)], action, context, utcnow()
                        )
                    stmt = self.statements.get(
                        self._key("read-then-update", visibility, set_columns, self.audited),
                        lambda cols=set_columns: build_versioned_update(  # type: ignore[misc]
                            table,
                            self._pk,
                            self._checked_where(visibility, True),
                            self._new_values(cols),
                            (),
                            [self._pk],
                            audited=self.audited,
                        ),
                    )
                    done = len(
                        await stmt.fetch_values(conn, versioned_update_params(params, entry))
                    )
            if done == 1:
                self._count_change(action, standalone=True)
                return updated
            if expected_version is not None:
                db.stats.version_conflicts += 1
                raise VersionConflict(self.entity_name(), id, expected_version, None)
        raise VersionConflict(self.entity_name(), id, 0, None)

    async def _apply(
        self,
        uow: UnitOfWork,
        conn: Connection,
        current: E,
        changes: dict[str, Any],
        raw: dict[str, Any],
        action: AuditAction,
    ) -> E:
        planned = self._planned_update(uow.context, current, changes, raw, action)
        if planned is None:
            return current  # nothing to store
        set_columns, params, diff, updated = planned
        check_version = "old_version" in params
        stmt = self.statements.get(
            self._key("update", set_columns, check_version),
            lambda: (
                update(self.table())
                .where(
                    self._pk == bindparam("id", type_=self._pk.type),
                    *self._checked_where("all", check_version),
                )
                .values(self._new_values(set_columns))
            ),
        )
        if await stmt.execute(conn, params) != 1:
            actual = getattr(current, "version", None)
            raise VersionConflict(self.entity_name(), current.id, actual or 0, None)
        self._audit(uow, current.id, action, diff)
        return updated

    def _planned_update(
        self,
        context: EventContext,
        current: E,
        changes: dict[str, Any],
        raw: dict[str, Any],
        action: AuditAction,
    ) -> tuple[tuple[str, ...], dict[str, Any], dict[str, list[Any]], E] | None:
        """The columns an UPDATE of ``current`` with ``changes`` sets (besides the version)
        and its parameters, the audit entry's changes and the entity as it will be stored;
        None if nothing changes."""
        now = utcnow()
        server = {"updated_at": now, "updated_by_id": context.actor_id}
        if self._entity_has("version"):
            server["version"] = getattr(current, "version") + 1  # noqa: B009
        server_fields, server_raw = self._server_values(tuple(server), server)
        try:
            updated = type(current).model_validate({**current.__dict__, **changes, **server_fields})
        except ValidationError as exc:
            raise InvalidInput.from_validation_error(exc) from None
        mapper = self.mapper()
        changed = [f for f in mapper.fields if getattr(current, f) != getattr(updated, f)]
        if not raw and not (set(changed) - _UPDATE_NOISE):
            return None
        values = {**mapper.to_columns(updated, changed), **raw, **server_raw}
        if mapper.encryption is not None:
            mapper.encryption.seal_columns(values, current.id, self.keyring)
        set_columns = tuple(c for c in values if c != "version")
        params = self._params(None, id=current.id, **{f"v_{c}": values[c] for c in set_columns})
        if self.has("version") and self._entity_has("version"):
            params["old_version"] = getattr(current, "version")  # noqa: B009
        # Compared unmasked, so a change of a sensitive value is recorded (masked).
        diff = changes_between(
            self._snapshot(current, masked=False),
            self._snapshot(updated, masked=False),
            mapper.sensitive,
        )
        for name in _UPDATE_NOISE & diff.keys():
            del diff[name]
        diff.update(self._lifecycle_diff(raw, action))
        return set_columns, params, diff, updated
