"""What every write of a repository shares: server-owned values, audit entries, row locks
and the UPDATE of a row read first (G2, G4, G12)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import (
    Column,
    ColumnDefault,
    Table,
    bindparam,
    insert,
    literal_column,
    select,
    update,
)

from lamina.domain.context import EventContext
from lamina.domain.entity import MASK, SERVER_OWNED, Entity, utcnow
from lamina.domain.errors import InvalidInput, VersionConflict
from lamina.persistence.audit import AuditAction, audit_row, audit_rows, changes_between
from lamina.persistence.connection import Connection, InsertRows
from lamina.persistence.creation_changes import CreationChanges
from lamina.persistence.database import Database
from lamina.persistence.read_repository import ReadOnlyRepository, Visibility
from lamina.persistence.unit_of_work import UnitOfWork

E = TypeVar("E", bound=Entity)
R = TypeVar("R")


_CREATION_CHANGES: dict[type[Any], CreationChanges] = {}
"""Per repository class: how a creation's audit entry lists the business fields."""

UPDATE_STAMPS = ("updated_at", "updated_by_id")
"""The server values every change sets (where the table has them)."""

_UPDATE_NOISE = frozenset({*UPDATE_STAMPS, "version"})

_Names = tuple[str, ...]

_SERVER_SPLITS: dict[tuple[type[Any], _Names], tuple[_Names, _Names]] = {}
"""Per repository class and server value names: which are entity fields, which raw columns."""

_DEFAULTS: dict[tuple[type[Any], _Names], tuple[_Names, tuple[Any, ...]]] = {}
"""Per repository class and inserted columns: the others with a Python-side default."""


class WritingRepository(ReadOnlyRepository[E, R]):
    """The reads of :class:`ReadOnlyRepository` and what the writes of
    :class:`~lamina.persistence.Repository` share."""

    def _entity_has(self, field: str) -> bool:
        return field in self.entity.__pydantic_fields__

    def _server_values(
        self, names: _Names, values: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split server values into entity field changes and raw column values (the
        columns of ``names`` the table has but the entity does not carry)."""
        key = (type(self), names)
        split = _SERVER_SPLITS.get(key)
        if split is None:
            present = [name for name in names if self.has(name)]
            split = _SERVER_SPLITS[key] = (
                tuple(name for name in present if self._entity_has(name)),
                tuple(name for name in present if not self._entity_has(name)),
            )
        fields, columns = split
        return {n: values[n] for n in fields}, {n: values[n] for n in columns}

    def _changed_columns(
        self, values: Mapping[str, Any], raw: Mapping[str, Any], actor_id: Any, now: datetime
    ) -> dict[str, Any]:
        """The columns a versioned change sets, with their values: its fields' (checked
        against their columns), the lifecycle's raw columns, then the update stamps."""
        server = {"updated_at": now, "updated_by_id": actor_id}
        fields, columns = self._server_values(UPDATE_STAMPS, server)
        changed = self.mapper().column_values({**values, **fields})
        changed.update(raw)
        changed.update(columns)
        return changed

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
        else:
            rows = (
                [values(new) + extra for new in stored]
                if extra
                else [values(new) for new in stored]
            )
            names = mapper.columns + tuple(columns)
        defaulted, makers = self._column_defaults(names)
        for row in rows if makers else ():
            row += [make() for make in makers]
        return stored, names + defaulted, rows

    def _column_defaults(
        self, inserted: tuple[str, ...]
    ) -> tuple[tuple[str, ...], tuple[Callable[[], Any], ...]]:
        """The row's other columns than ``inserted`` that have a Python-side default (a
        value, or a function of nothing), and how to make each one's value for a new row:
        SQLAlchemy would add them to the INSERT, so the repository fills them as it would."""
        key = (type(self), inserted)
        found = _DEFAULTS.get(key)
        if found is None:
            names: list[str] = []
            makers: list[Callable[[], Any]] = []
            for column in self.table().columns:
                default = column.default
                if column.name in inserted or not isinstance(default, ColumnDefault):
                    continue
                if default.is_scalar:
                    names.append(column.name)
                    makers.append(functools.partial(_same, default.arg))
                elif default.is_callable:
                    names.append(column.name)
                    makers.append(functools.partial(default.arg, None))
            found = _DEFAULTS[key] = (tuple(names), tuple(makers))
        return found

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

    @property
    def _standalone(self) -> bool:
        """Whether each write is its own transaction (bound to the database, not a unit)."""
        return isinstance(self.target, Database)

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
        return self._entity(rows[0]) if rows else None

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

    def _update_basis(
        self, visibility: Visibility, check_version: bool, set_columns: Sequence[str]
    ) -> tuple[Table, Column[Any], list[Any], dict[str, Any]]:
        """The first arguments of the versioned UPDATE builders of
        :mod:`~lamina.persistence.audited_writes`: the table, its key, the conditions a
        changed row must meet and the SET clause of ``set_columns``."""
        return (
            self.table(),
            self._pk,
            self._checked_where(visibility, check_version),
            self._new_values(set_columns),
        )

    def _checked_where(self, visibility: Visibility, check_version: bool) -> list[Any]:
        """The conditions a changed row must meet: visibility, scope and, if asked, version."""
        where = self._where(None, visibility)
        if check_version:
            version = self.table().c.version
            where.append(version == bindparam("old_version", type_=version.type))
        return where

    def _count_change(self, action: AuditAction, standalone: bool) -> None:
        stats = self._database().stats
        if standalone:
            stats.transactions += 1
            stats.audit_entries += 1 if self.audited else 0
        stats.soft_deletes += 1 if action is AuditAction.DELETE else 0

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
        args = stmt.arguments(params)  # converted (and checked, G13) before anything is sent
        # ``current`` was read in this transaction: on SQLite, whose write transaction holds
        # the database, the UPDATE's outcome is known; a standalone write's travels with its
        # commit (in a unit of work it is sent at once: a broken rule raises at the call).
        staged = self._standalone and conn.stage((stmt.sql, [args]), self._domain_error)
        if not staged and await conn.execute(stmt.sql, args) != 1:
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


def _same(value: Any) -> Any:
    return value
