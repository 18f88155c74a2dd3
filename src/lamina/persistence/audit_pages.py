"""The audit history of one entity a page at a time, with the same signed cursors as lists.

:func:`lamina.persistence.audit.history` returns every entry at once; an API
that promises pages of at most N items (``{items, next_cursor}``) uses
:func:`history_page` instead::

    page = await history_page(db, "Conversation", conversation_id, limit=50)
    more = await history_page(db, "Conversation", conversation_id, cursor=page.next_cursor)

Entries come oldest first (their ids are time-ordered UUIDs); the cursor is
signed with the database's secret key, so an altered one is refused with
:class:`~lamina.domain.InvalidInput`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select

from lamina.domain.errors import InvalidInput
from lamina.persistence.audit import AuditEntry
from lamina.persistence.cursors import decode_cursor, encode_cursor
from lamina.persistence.database import Database
from lamina.persistence.pages import CursorPage
from lamina.persistence.tables import audit_log
from lamina.persistence.unit_of_work import UnitOfWork

_ORDERING = "audit:id"


def _build_page(after: bool) -> Any:
    stmt = (
        select(*audit_log.c)
        .where(audit_log.c.entity_type == bindparam("entity_type"))
        .where(audit_log.c.entity_id == bindparam("entity_id"))
    )
    if after:
        stmt = stmt.where(audit_log.c.id > bindparam("after", type_=audit_log.c.id.type))
    return stmt.order_by(audit_log.c.id).limit(bindparam("limit"))


async def history_page(
    target: Database | UnitOfWork,
    entity_type: str,
    entity_id: object,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> CursorPage[AuditEntry]:
    """A page of the audit entries of one entity, oldest first, and the next page's cursor."""
    if not isinstance(limit, int) or limit < 1:
        raise InvalidInput.for_field("limit", "must be a positive integer")
    db = target if isinstance(target, Database) else target.db
    after: UUID | None = None
    if cursor is not None:
        values = decode_cursor(db.secret_key, _ORDERING, cursor)
        try:
            after = UUID(str(values[0])) if len(values) == 1 else None
        except ValueError:
            after = None
        if after is None:
            raise InvalidInput.for_field("cursor", "malformed or tampered cursor")
    stmt = target.statements.get(
        ("lamina", "audit", "history_page", after is not None),
        lambda: _build_page(after is not None),
    )
    params: dict[str, Any] = {
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "limit": limit + 1,
    }
    if after is not None:
        params["after"] = after
    async with target.connection() as conn:
        rows = await stmt.fetch(conn, params)
    entries = [AuditEntry.model_validate(row) for row in rows]
    next_cursor = None
    if len(entries) > limit:
        entries = entries[:limit]
        next_cursor = encode_cursor(db.secret_key, _ORDERING, [str(entries[-1].id)])
    return CursorPage(entries, next_cursor)
