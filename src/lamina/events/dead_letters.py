"""Dead letters: events a subscription gave up on after its retries, kept visible and re-drivable.

``lamina events retry`` (or :meth:`DeadLetters.request_redrive`) only marks
dead letters; the runner that owns the subscription handles them again on its
next cycle and marks each one resolved when its handler succeeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lamina.domain.entity import utcnow
from lamina.domain.ids import uuid7
from lamina.persistence.database import Database
from lamina.persistence.tables import dead_letters

_T = dead_letters.c
MAX_ERROR_LENGTH = 2000


class DeadLetter(BaseModel):
    """One event a subscription could not handle."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    subscription: str
    position: int
    event_type: str
    attempts: int
    error: str
    failed_at: datetime
    resolved_at: datetime | None
    redrive_requested_at: datetime | None


def _typed(name: str) -> Any:
    return bindparam(name, type_=_T[name].type)


def _record(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(dead_letters).values({c.name: _typed(c.name) for c in dead_letters.c})
    return stmt.on_conflict_do_update(
        index_elements=["subscription", "position"],
        set_={
            "attempts": _T.attempts + stmt.excluded.attempts,
            "error": stmt.excluded.error,
            "failed_at": stmt.excluded.failed_at,
            "resolved_at": None,
            "redrive_requested_at": None,
        },
    )


def _listing(subscription: bool, unresolved_only: bool) -> Any:
    stmt = select(*dead_letters.c)
    if subscription:
        stmt = stmt.where(_T.subscription == bindparam("subscription"))
    if unresolved_only:
        stmt = stmt.where(_T.resolved_at.is_(None))
    return stmt.order_by(_T.subscription, _T.position).limit(bindparam("limit"))


def _due() -> Any:
    return (
        select(*dead_letters.c)
        .where(_T.subscription == bindparam("subscription"))
        .where(_T.resolved_at.is_(None))
        .where(_T.redrive_requested_at.is_not(None))
        .order_by(_T.position)
        .limit(bindparam("limit"))
    )


def _request_by_id() -> Any:
    return (
        update(dead_letters)
        .where(_T.id == _typed("id"))
        .where(_T.resolved_at.is_(None))
        .values(redrive_requested_at=_typed("redrive_requested_at"))
    )


def _request_by_subscription(subscription: bool) -> Any:
    stmt = update(dead_letters).where(_T.resolved_at.is_(None))
    if subscription:
        stmt = stmt.where(_T.subscription == bindparam("subscription"))
    return stmt.values(redrive_requested_at=_typed("redrive_requested_at"))


def _resolve() -> Any:
    return (
        update(dead_letters)
        .where(_T.id == _typed("id"))
        .values(resolved_at=_typed("resolved_at"), redrive_requested_at=None)
    )


class DeadLetters:
    """The dead letters of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _fetch(self, key: Any, build: Any, params: dict[str, Any]) -> list[DeadLetter]:
        stmt = self.db.statements.get(("lamina", "dead_letters", key), build)
        async with self.db.connection() as conn:
            rows = await stmt.fetch(conn, params)
        return [DeadLetter.model_validate(row) for row in rows]

    async def _execute(self, key: Any, build: Any, params: dict[str, Any]) -> int:
        stmt = self.db.statements.get(("lamina", "dead_letters", key), build)
        async with self.db.connection() as conn:
            return await stmt.execute(conn, params)

    async def record(
        self, subscription: str, position: int, event_type: str, attempts: int, error: str
    ) -> None:
        """Store (or, after a failed re-drive, update) the dead letter of one event."""
        dialect = self.db.dialect_name
        params = {
            "id": uuid7(),
            "subscription": subscription,
            "position": position,
            "event_type": event_type,
            "attempts": attempts,
            "error": error[:MAX_ERROR_LENGTH],
            "failed_at": utcnow(),
            "resolved_at": None,
            "redrive_requested_at": None,
        }
        await self._execute("record", lambda: _record(dialect), params)

    async def find(
        self, subscription: str | None = None, *, include_resolved: bool = False, limit: int = 100
    ) -> list[DeadLetter]:
        """Dead letters by subscription and position; unresolved ones unless asked otherwise."""
        key = ("list", subscription is not None, not include_resolved)
        params: dict[str, Any] = {"subscription": subscription, "limit": limit}
        return await self._fetch(
            key, lambda: _listing(subscription is not None, not include_resolved), params
        )

    async def due_for_redrive(self, subscription: str, limit: int = 100) -> list[DeadLetter]:
        """Unresolved dead letters of ``subscription`` that were asked to be handled again."""
        return await self._fetch("due", _due, {"subscription": subscription, "limit": limit})

    async def request_redrive(
        self, ids: Sequence[UUID] = (), *, subscription: str | None = None
    ) -> int:
        """Mark dead letters for re-drive: those of ``ids``, else all unresolved ones of
        ``subscription``, else all unresolved ones. Returns how many were marked."""
        now = utcnow()
        if ids:
            marked = 0
            for dead_letter_id in ids:
                params = {"id": dead_letter_id, "redrive_requested_at": now}
                marked += await self._execute("request_one", _request_by_id, params)
            return marked
        scoped = subscription is not None
        params = {"subscription": subscription, "redrive_requested_at": now}
        return await self._execute(
            ("request", scoped), lambda: _request_by_subscription(scoped), params
        )

    async def resolve(self, dead_letter_id: UUID) -> None:
        """Mark one dead letter as handled."""
        await self._execute("resolve", _resolve, {"id": dead_letter_id, "resolved_at": utcnow()})
