"""The audit log: one entry per row changed through a repository, in the same transaction (G4)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_json
from sqlalchemy import JSON, Dialect, bindparam, insert, select, update
from sqlalchemy.types import TypeDecorator

from lamina.domain.context import EventContext
from lamina.domain.entity import MASK
from lamina.domain.ids import uuid7, uuid7_batch, uuid_text
from lamina.persistence.tables import audit_log

if TYPE_CHECKING:
    from lamina.persistence.connection import Connection
    from lamina.persistence.database import Database
    from lamina.persistence.unit_of_work import UnitOfWork


class AuditAction(enum.StrEnum):
    """What happened to the row."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESTORE = "restore"
    HARD_DELETE = "hard_delete"
    ERASE = "erase"


class AuditEntry(BaseModel):
    """One recorded change: who did what to which entity, when, and old → new values."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    entity_type: str
    entity_id: str
    action: AuditAction
    actor_id: UUID | None
    correlation_id: str | None
    tenant_id: UUID | None
    changes: dict[str, tuple[Any, Any]]
    occurred_at: datetime


def changes_between(
    old: Mapping[str, Any], new: Mapping[str, Any], sensitive: frozenset[str]
) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs; sensitive values masked."""
    out: dict[str, list[Any]] = {}
    for name in old.keys() | new.keys():
        before, after = old.get(name), new.get(name)
        if before != after:
            out[name] = [MASK, MASK] if name in sensitive else [before, after]
    return out


AUDIT_COLUMNS = tuple(c.name for c in audit_log.c)
"""The audit table's columns, in the order of :func:`audit_row` values."""


def audit_row(
    entity_type: str,
    entity_id: object,
    action: AuditAction,
    changes: dict[str, list[Any]],
    context: EventContext,
    at: datetime,
) -> list[Any]:
    """The column values of one audit entry, in the order of :data:`AUDIT_COLUMNS`.

    ``changes`` is serialized here, once, by pydantic-core: the INSERT binds
    it as JSON text.
    """
    return _entry(uuid7(), entity_type, entity_id, action.value, changes, context, at)


def audit_rows(
    entity_type: str,
    changed: Sequence[tuple[object, dict[str, list[Any]]]],
    action: AuditAction,
    context: EventContext,
    at: datetime,
) -> list[list[Any]]:
    """:func:`audit_row` for many ``(entity id, changes)`` of one action (ids made in a batch)."""
    kind = action.value
    return [
        _entry(entry_id, entity_type, entity_id, kind, changes, context, at)
        for entry_id, (entity_id, changes) in zip(uuid7_batch(len(changed)), changed, strict=True)
    ]


def _entry(
    entry_id: UUID,
    entity_type: str,
    entity_id: object,
    kind: str,
    changes: dict[str, list[Any]],
    context: EventContext,
    at: datetime,
) -> list[Any]:
    return [
        entry_id,
        entity_type,
        uuid_text(entity_id) if type(entity_id) is UUID else str(entity_id),
        kind,
        context.actor_id,
        context.correlation_id,
        context.tenant_id,
        to_json(changes).decode(),
        at,
    ]


class SerializedJSON(TypeDecorator[str]):
    """A JSON column's value that is already serialized: bound as it is."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


INSERT_KEY = ("lamina", "audit", "insert")


def entry_parameters() -> dict[str, Any]:
    """A bound parameter per column of an audit entry, in the order of :data:`AUDIT_COLUMNS`.

    ``changes`` arrives as JSON text (see :func:`audit_row`), so it is bound as text.
    """
    types = {c.name: c.type for c in audit_log.c} | {"changes": SerializedJSON()}
    return {name: bindparam(name, type_=types[name]) for name in AUDIT_COLUMNS}


def build_insert() -> Any:
    """The INSERT of one audit entry, every value a bound parameter."""
    return insert(audit_log).values(entry_parameters())


async def history(
    target: Database | UnitOfWork, entity_type: str, entity_id: object
) -> list[AuditEntry]:
    """The audit entries of one entity, oldest first."""
    stmt = target.statements.get(
        ("lamina", "audit", "history"),
        lambda: (
            select(*audit_log.c)
            .where(audit_log.c.entity_type == bindparam("entity_type"))
            .where(audit_log.c.entity_id == bindparam("entity_id"))
            .order_by(audit_log.c.id)
        ),
    )
    async with target.connection() as conn:
        rows = await stmt.fetch(conn, {"entity_type": entity_type, "entity_id": str(entity_id)})
    return [AuditEntry.model_validate(r) for r in rows]


def redacted(changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``changes`` with every value masked: which fields changed, not what they held."""
    return {name: [MASK, MASK] for name in changes}


async def redact_history(
    conn: Connection, target: UnitOfWork, entity_type: str, entity_id: object
) -> int:
    """Mask the values of every stored audit entry of one entity (action, actor, time and
    the names of the fields stay); the number of entries redacted."""
    key = str(entity_id)
    select_stmt = target.statements.get(
        ("lamina", "audit", "changes_of"),
        lambda: (
            select(audit_log.c.id, audit_log.c.changes)
            .where(audit_log.c.entity_type == bindparam("entity_type"))
            .where(audit_log.c.entity_id == bindparam("entity_id"))
        ),
    )
    rows = await select_stmt.fetch(conn, {"entity_type": entity_type, "entity_id": key})
    if not rows:
        return 0
    update_stmt = target.statements.get(
        ("lamina", "audit", "redact"),
        lambda: (
            update(audit_log)
            .where(audit_log.c.id == bindparam("entry_id", type_=audit_log.c.id.type))
            .values(changes=bindparam("redacted", type_=SerializedJSON()))
        ),
    )
    masked = [
        update_stmt.arguments({"entry_id": row["id"], "redacted": redacted_text(row["changes"])})
        for row in rows
    ]
    await conn.execute_many(update_stmt.sql, masked)  # one round trip for all of them
    return len(rows)


def redacted_text(changes: Any) -> str:
    """The JSON text of ``changes`` (as read: decoded or text) with every value masked."""
    decoded = json.loads(changes) if isinstance(changes, str) else changes
    return to_json(redacted(decoded)).decode()
