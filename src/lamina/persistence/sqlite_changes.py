"""A versioned change outside any unit of work on SQLite: one write transaction, one hop
(G2, G4).

A change whose values need no read of the row (:mod:`~lamina.persistence.unread_changes`)
is the audit entry's INSERT, which reads the old values, and the UPDATE returning the row
(:func:`~lamina.persistence.audited_writes.build_sqlite_versioned_update`), sent with
BEGIN IMMEDIATE and COMMIT in one hop to the connection's thread
(:meth:`~lamina.persistence.Database.write_alone`). What does not depend on the values
(the two statements, which server values are entity fields) is worked out once per
shape of change and kept with the compiled statements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from lamina.domain.context import EventContext
from lamina.domain.entity import Entity, utcnow
from lamina.domain.errors import NotFound, VersionConflict
from lamina.persistence.audit import AuditAction, audit_row
from lamina.persistence.audited_writes import (
    add_entry_params,
    build_sqlite_versioned_update,
    new_value_params,
)
from lamina.persistence.connection import Batch, OnError, Row
from lamina.persistence.database import Database
from lamina.persistence.read_repository import Visibility
from lamina.persistence.statements import CompiledStatement
from lamina.persistence.unread_changes import FieldColumn, UnreadChange
from lamina.persistence.write_support import UPDATE_STAMPS, WritingRepository

E = TypeVar("E", bound=Entity)
R = TypeVar("R")

UNLOCKED_ATTEMPTS = 5
"""Tries of a change written without reading the row first, when the row keeps moving on
between the write that matched nothing and the read that tells why."""


@dataclass(frozen=True, slots=True)
class SQLiteChange:
    """The statements of one shape of standalone change on SQLite."""

    entry: CompiledStatement | None
    """The audit entry's INSERT (None if the repository is not audited)."""
    changed: CompiledStatement
    """The UPDATE, returning the row as stored."""


class SQLiteChanges(WritingRepository[E, R]):
    """The standalone versioned changes of :class:`~lamina.persistence.Repository` on SQLite."""

    def _unmatched(
        self,
        current: E | None,
        id: UUID,
        expected_version: int | None,
        values: Mapping[str, Any],
        always: bool,
    ) -> E | None:
        """Why a change written without reading the row matched nothing, from the row read
        after it: missing (:class:`NotFound`), stale (:class:`VersionConflict`), already
        holding every value (returned as it is), or moved on meanwhile (None: try again)."""
        if current is None:
            raise NotFound(self.entity_name(), id)
        self.check_version(current, expected_version)
        if not always and all(getattr(current, f) == v for f, v in values.items()):
            return current
        return None

    def _sqlite_change(
        self,
        compared: tuple[FieldColumn, ...],
        raw: tuple[str, ...],
        visibility: Visibility,
        check_version: bool,
    ) -> SQLiteChange:
        """The prepared change of the fields of ``compared`` (and the lifecycle columns
        ``raw``), built on first use."""

        def build() -> SQLiteChange:
            mapper = self.mapper()
            fields, columns = self._server_values(UPDATE_STAMPS, dict.fromkeys(UPDATE_STAMPS))
            set_columns = [f.column for f in compared]
            for name in fields:
                column = mapper.column_for(name)
                assert column is not None, f"no column for {name}"
                set_columns.append(column.name)
            set_columns += [*raw, *columns]
            entry, changed = build_sqlite_versioned_update(
                *self._update_basis(visibility, check_version, set_columns),
                compared,
                self._columns(),
                always=bool(raw),
            )
            statements = self.statements
            return SQLiteChange(
                statements.compile(entry) if self.audited else None,
                statements.compile(changed),
            )

        names = tuple(f.field for f in compared)
        key = self._key("sqlite-change", names, raw, visibility, check_version)
        return self.statements.prepared(key, build)

    def _sqlite_writes(
        self,
        id: UUID,
        change: SQLiteChange,
        params: dict[str, Any],
        values: Mapping[str, Any],
        raw: Mapping[str, Any],
        compared: tuple[FieldColumn, ...],
        action: AuditAction,
    ) -> tuple[list[tuple[Batch, OnError | None, list[Row] | None]], list[Row]]:
        """The audit entry's INSERT (if audited) and the UPDATE of ``change`` with their
        arguments, and the list that receives the row the UPDATE returns; ``params``
        already holds the key, the scope and the expected version."""
        context = EventContext.current()
        now = utcnow()
        columns = self._changed_columns(values, raw, context.actor_id, now)
        for name, value in columns.items():
            params["v_" + name] = value
        writes: list[tuple[Batch, OnError | None, list[Row] | None]] = []
        if change.entry is not None:
            known = self._lifecycle_diff(raw, action) if raw else {}
            entry = audit_row(self.entity_name(), id, action, known, context, now)
            add_entry_params(params, entry)
            params.update(new_value_params(compared, values))
            writes.append(((change.entry.sql, [change.entry.arguments(params)]), None, None))
        stored: list[Row] = []
        writes.append(((change.changed.sql, [change.changed.arguments(params)]), None, stored))
        return writes, stored

    async def _change_on_sqlite(
        self,
        db: Database,
        id: UUID,
        unread: UnreadChange,
        expected_version: int | None,
        visibility: Visibility,
        action: AuditAction,
    ) -> E:
        """The change in a write transaction of its own, in one hop; the row is read only when
        the change matched nothing (:meth:`_unmatched`)."""
        values, raw, compared = unread
        check_version = expected_version is not None and self._entity_has("version")
        change = self._sqlite_change(compared, tuple(raw), visibility, check_version)
        params = self._params(None, id=id)
        if check_version:
            params["old_version"] = expected_version
        with self._translated():  # values are checked (and converted) on the way
            writes, stored = self._sqlite_writes(id, change, params, values, raw, compared, action)
            for _ in range(UNLOCKED_ATTEMPTS):
                await db.write_alone(writes)  # its entry is written only if the row matched
                if stored:
                    db.stats.audit_entries += 1 if change.entry is not None else 0
                    db.stats.soft_deletes += 1 if action is AuditAction.DELETE else 0
                    return self._entity(change.changed.convert_row(stored[0]))
                async with db.connection() as conn:
                    current = await self._locked(conn, id, visibility, locking=False)
                unchanged = self._unmatched(current, id, expected_version, values, bool(raw))
                if unchanged is not None:
                    return unchanged
                # Changed by another writer between the write and the read: again.
        raise VersionConflict(self.entity_name(), id, expected_version or 0, None)
