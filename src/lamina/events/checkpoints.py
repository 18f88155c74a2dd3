"""Durable checkpoints of subscriptions, and the lease that lets one runner consume each.

Every statement is a single autocommitted write or read on lamina's own
``lamina_subscriptions`` table. Leases use this process's clock: keep the
clocks of the machines running runners in sync (NTP) and the lease well above
any skew.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lamina.domain.entity import utcnow
from lamina.persistence.database import Database
from lamina.persistence.tables import subscriptions

_T = subscriptions.c


class SubscriptionState(BaseModel):
    """A subscription's row: its checkpoint and who consumes it."""

    model_config = ConfigDict(frozen=True)

    name: str
    position: int
    updated_at: datetime
    owner: str | None
    lease_expires_at: datetime | None


def _ensure(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(subscriptions)
        .values(
            name=bindparam("name"),
            position=bindparam("position"),
            updated_at=bindparam("now", type_=_T.updated_at.type),
        )
        .on_conflict_do_nothing(index_elements=["name"])
    )


def _claim() -> Any:
    holder = bindparam("holder", type_=_T.owner.type)
    return (
        update(subscriptions)
        .where(_T.name == bindparam("name"))
        .where(
            or_(
                _T.owner.is_(None),
                _T.owner == holder,
                _T.lease_expires_at < bindparam("now", type_=_T.lease_expires_at.type),
            )
        )
        .values(owner=holder, lease_expires_at=bindparam("until", type_=_T.lease_expires_at.type))
    )


def _advance() -> Any:
    return (
        update(subscriptions)
        .where(and_(_T.name == bindparam("name"), _T.owner == bindparam("holder")))
        .values(
            position=bindparam("position"),
            updated_at=bindparam("now", type_=_T.updated_at.type),
            lease_expires_at=bindparam("until", type_=_T.lease_expires_at.type),
        )
    )


def _release() -> Any:
    return (
        update(subscriptions)
        .where(and_(_T.name == bindparam("name"), _T.owner == bindparam("holder")))
        .values(owner=None, lease_expires_at=None)
    )


def _states() -> Any:
    return select(*subscriptions.c).order_by(_T.name)


def _state() -> Any:
    return select(*subscriptions.c).where(_T.name == bindparam("name"))


class Checkpoints:
    """The checkpoints table of one database, for one consumer identity (``owner``)."""

    def __init__(self, db: Database, owner: str, lease: float) -> None:
        self.db = db
        self.owner = owner
        self.lease = timedelta(seconds=lease)

    async def _write(self, key: str, build: Any, params: dict[str, Any]) -> int:
        stmt = self.db.statements.get(("lamina", "subscriptions", key), build)
        async with self.db.connection() as conn:
            return await stmt.execute(conn, params)

    async def ensure(self, name: str, position: int) -> None:
        """Create the checkpoint of ``name`` at ``position`` unless it exists."""
        dialect = self.db.dialect_name
        stmt = self.db.statements.get(
            ("lamina", "subscriptions", "ensure"), lambda: _ensure(dialect)
        )
        async with self.db.connection() as conn:
            await stmt.execute(conn, {"name": name, "position": position, "now": utcnow()})

    async def claim(self, name: str) -> bool:
        """Take or renew the lease of ``name``; False while another live owner holds it."""
        now = utcnow()
        params = {"name": name, "holder": self.owner, "now": now, "until": now + self.lease}
        return await self._write("claim", _claim, params) == 1

    async def advance(self, name: str, position: int) -> bool:
        """Store ``position`` as handled (and renew the lease); False if the lease was lost."""
        now = utcnow()
        params = {
            "name": name,
            "holder": self.owner,
            "position": position,
            "now": now,
            "until": now + self.lease,
        }
        return await self._write("advance", _advance, params) == 1

    async def release(self, name: str) -> None:
        """Give the lease of ``name`` up, so another runner can take over at once."""
        await self._write("release", _release, {"name": name, "holder": self.owner})

    async def state(self, name: str) -> SubscriptionState | None:
        """The row of ``name``, or None."""
        stmt = self.db.statements.get(("lamina", "subscriptions", "state"), _state)
        async with self.db.connection() as conn:
            rows = await stmt.fetch(conn, {"name": name})
        return SubscriptionState.model_validate(rows[0]) if rows else None


async def subscription_states(db: Database) -> list[SubscriptionState]:
    """Every subscription's checkpoint and owner, by name."""
    stmt = db.statements.get(("lamina", "subscriptions", "all"), _states)
    async with db.connection() as conn:
        rows = await stmt.fetch(conn, {})
    return [SubscriptionState.model_validate(row) for row in rows]
