"""Versioned changes through a repository: update, save, soft delete and restore (G2, G4).

On PostgreSQL a change the caller fully describes is one statement that reads the old
values itself (:mod:`~lamina.persistence.unread_changes`); on SQLite, outside a unit of
work, it is two statements sent with BEGIN IMMEDIATE and COMMIT in one hop
(:mod:`~lamina.persistence.sqlite_changes`). Other changes read the row first (on SQLite
their UPDATE then travels with the commit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID

from pydantic_core import to_jsonable_python

from lamina.domain.context import EventContext
from lamina.domain.entity import MASK, SERVER_OWNED, Entity, utcnow
from lamina.domain.errors import FieldError, InvalidInput, NotFound, VersionConflict
from lamina.persistence.audit import AuditAction, audit_row
from lamina.persistence.audited_writes import (
    add_entry_params,
    build_versioned_update,
    new_value_params,
)
from lamina.persistence.connection import Connection
from lamina.persistence.database import Database
from lamina.persistence.read_repository import Visibility
from lamina.persistence.sqlite_changes import UNLOCKED_ATTEMPTS, SQLiteChanges
from lamina.persistence.unit_of_work import UnitOfWork
from lamina.persistence.unread_changes import FieldColumn, UnreadChange, UnreadChanges

E = TypeVar("E", bound=Entity)
R = TypeVar("R")


_UNREAD: dict[type[Any], UnreadChanges] = {}
"""Per repository class: which changes are written without reading the row first."""


class Changes(SQLiteChanges[E, R]):
    """The versioned changes of :class:`~lamina.persistence.Repository`."""

    async def update(
        self, id: UUID, changes: Mapping[str, Any], *, expected_version: int | None = None
    ) -> E:
        """Change some fields of one entity and return it as stored.

        With ``expected_version``, a row that has moved on raises
        :class:`VersionConflict` and nothing is written (G2). Values are
        validated by the entity's rules (:class:`InvalidInput`); server-owned
        fields cannot be changed this way.
        """
        server_owned = self.entity.fields_marked(SERVER_OWNED)
        if not server_owned.isdisjoint(changes):
            owned = server_owned & changes.keys()
            raise InvalidInput(
                "server-owned fields cannot be changed",
                [FieldError(f, "set by the server") for f in sorted(owned)],
            )
        if not self.mapper().field_set.issuperset(changes):
            unknown = changes.keys() - self.mapper().field_set
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

    async def restore(self, id: UUID, *, expected_version: int | None = None) -> E:
        """Bring back a soft-deleted entity."""
        if not self.has("deleted_at"):
            raise TypeError(f"{self.entity_name()} rows cannot be soft-deleted, so not restored")
        return await self._change(id, {}, expected_version, "deleted", AuditAction.RESTORE)

    async def _change(
        self,
        id: UUID,
        changes: dict[str, Any],
        expected_version: int | None,
        visibility: Visibility,
        action: AuditAction,
    ) -> E:
        target = self.target
        if target.dialect_name == "postgresql" or isinstance(target, Database):
            unread = self._unread(changes, action)
            if unread is not None and target.dialect_name == "postgresql":
                return await self._change_unread(id, unread, expected_version, visibility, action)
            if unread is not None and isinstance(target, Database):  # SQLite, standalone
                return await self._change_on_sqlite(
                    target, id, unread, expected_version, visibility, action
                )
            if (
                isinstance(target, Database)
                and target.dialect_name == "postgresql"
                and self.has("version")
                and self._entity_has("version")
            ):
                changed = await self._change_alone(
                    target, id, changes, expected_version, visibility, action
                )
                if changed is not None:
                    return changed
        async with self._write() as (uow, conn):  # locking the row: waits its turn
            current = await self._locked(conn, id, visibility)
            if current is None:
                raise NotFound(self.entity_name(), id)
            self.check_version(current, expected_version)
            raw = self._lifecycle_values(changes, action)
            if action is AuditAction.DELETE:
                uow.db.stats.soft_deletes += 1
            return await self._apply(uow, conn, current, changes, raw, action)

    def _unread(self, changes: dict[str, Any], action: AuditAction) -> UnreadChange | None:
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
        unread: UnreadChange,
        expected_version: int | None,
        visibility: Visibility,
        action: AuditAction,
    ) -> E:
        """A change written by one statement that reads the old values itself
        (:func:`~lamina.persistence.audited_writes.build_versioned_update`), on PostgreSQL
        (on SQLite, outside a unit of work: :mod:`~lamina.persistence.sqlite_changes`).

        Outside a unit of work it is the whole write, audit entry included, in one round
        trip; in one (PostgreSQL), its entry (built from the old values returned) is queued
        for the commit. Only when it changes nothing is the row read: to tell a missing row
        (:class:`NotFound`) from a stale version (:class:`VersionConflict`) and from a
        change that leaves every value as it is (the entity returned as it is).
        """
        values, raw, compared = unread
        target = self.target
        uow = target if isinstance(target, UnitOfWork) else None
        standalone = uow is None
        context = EventContext.current() if uow is None else uow.context
        check_version = expected_version is not None and self._entity_has("version")
        in_statement = standalone and self.audited
        now = utcnow()
        returned = len(self.mapper().columns)
        params = self._params(None, id=id)
        if check_version:
            params["old_version"] = expected_version
        with self._translated():
            columns = self._changed_columns(values, raw, context.actor_id, now)
            set_columns = tuple(columns)
            shape = (visibility, set_columns, check_version, bool(raw), in_statement)
            stmt = self.statements.get(
                self._key("unread", *shape),
                lambda: build_versioned_update(
                    *self._update_basis(visibility, check_version, set_columns),
                    compared,
                    self._columns(),
                    audited=in_statement,
                    always=bool(raw),
                ),
            )
            for name, value in columns.items():
                params["v_" + name] = value
            known = self._lifecycle_diff(raw, action) if raw else {}
            if in_statement:
                entry = audit_row(self.entity_name(), id, action, known, context, now)
                add_entry_params(params, entry)
                params.update(new_value_params(compared, values))
            for _ in range(UNLOCKED_ATTEMPTS):
                async with self._change_connection() as conn:
                    rows = await stmt.fetch_values(conn, params)
                    if rows:
                        stored = self._entity(rows[0][:returned])
                        if uow is not None and self.audited:
                            olds = rows[0][returned:]
                            diff = self._found_diff(values, compared, olds)
                            self._audit(uow, id, action, {**diff, **known})
                        self._count_change(action, standalone)
                        return stored
                    current = await self._locked(conn, id, visibility, locking=False)
                unchanged = self._unmatched(current, id, expected_version, values, bool(raw))
                if unchanged is not None:
                    return unchanged
                # Changed by another writer between the statement and the read: again.
        raise VersionConflict(self.entity_name(), id, expected_version or 0, None)

    def _change_connection(self) -> AbstractAsyncContextManager[Connection]:
        """The connection a change is written on: the unit of work's, or (standalone) one
        for a statement that commits on its own."""
        target = self.target
        if isinstance(target, Database):
            return target.connection(writes=True)
        return _unit_connection(target)

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

    async def _change_alone(
        self,
        db: Database,
        id: UUID,
        changes: dict[str, Any],
        expected_version: int | None,
        visibility: Visibility,
        action: AuditAction,
    ) -> E | None:
        """A versioned change outside any unit of work (PostgreSQL) whose values need the
        row (validators across fields, value objects, encrypted or JSON fields): the row is
        read, then changed with its audit entry in one statement whose conditions check the
        version read, so nothing is locked between the two round trips and no BEGIN or
        COMMIT is sent. A row that moves on in between is a :class:`VersionConflict` when
        the caller named a version; when it did not, None: the caller changes it in a
        transaction that locks the row, as many may be changing it at once."""
        context = EventContext.current()
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
                    entry = audit_row(
                        self.entity_name(), current.id, action, diff, context, utcnow()
                    )
                stmt = self.statements.get(
                    self._key("read-then-update", visibility, set_columns, self.audited),
                    lambda cols=set_columns: build_versioned_update(  # type: ignore[misc]
                        *self._update_basis(visibility, True, cols),
                        (),
                        [self._pk],
                        audited=self.audited,
                    ),
                )
                if entry is not None:
                    add_entry_params(params, entry)
                done = len(await stmt.fetch_values(conn, params))
        if done == 1:
            self._count_change(action, standalone=True)
            return updated
        if expected_version is not None:
            db.stats.version_conflicts += 1
            raise VersionConflict(self.entity_name(), id, expected_version, None)
        return None


@asynccontextmanager
async def _unit_connection(uow: UnitOfWork) -> AsyncIterator[Connection]:
    """The connection of ``uow``, once it is known to allow writes."""
    async with uow.writing() as writing, writing.connection() as conn:
        yield conn
