"""``Repository[Entity, Row]``: the reads of :class:`ReadOnlyRepository` plus every write.

Each write leaves one audit entry per row in the same transaction (G4); an
update or delete naming a stale version writes nothing and raises
:class:`VersionConflict` (G2); server-owned fields are set here, from the clock
and the current :class:`EventContext`, never from the caller (G12).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import Column, bindparam, delete, update

from lamina.domain.entity import Entity
from lamina.domain.errors import Conflict, NotFound
from lamina.domain.events import EntityErased
from lamina.persistence import audit
from lamina.persistence.audit import AuditAction
from lamina.persistence.changes import Changes
from lamina.persistence.connection import Connection
from lamina.persistence.errors import is_foreign_key_violation
from lamina.persistence.inserts import Inserts
from lamina.persistence.mapping import storable
from lamina.persistence.queries import invalid_from_validation
from lamina.persistence.unit_of_work import UnitOfWork

E = TypeVar("E", bound=Entity)
R = TypeVar("R")


class Repository(Inserts[E, R], Changes[E, R]):
    """Reads and writes of one entity type (see :class:`ReadOnlyRepository` for declaring one).

    ``touchable`` names activity markers (a conversation's ``last_activity_at``)
    that :meth:`touch` moves forward without a new version or an audit entry.
    """

    touchable: ClassVar[Sequence[str]] = ()
    derived: ClassVar[Sequence[str]] = ()
    """Fields a projection keeps (a course's ``rating``), set by :meth:`set_derived` alone."""

    async def delete(self, id: UUID, *, expected_version: int | None = None) -> None:
        """Delete one entity: soft (sets ``deleted_at``) if the table has it, else for good."""
        if not self.has("deleted_at"):
            await self.hard_delete(id, expected_version=expected_version)
            return
        await self._change(id, {}, expected_version, "live", AuditAction.DELETE)

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
