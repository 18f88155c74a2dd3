"""The sample application's rows, in their own ``MetaData`` (not lamina's shared ``Base``).

Between them they use what migrations must handle on both databases: UUID keys,
aware timestamps, a JSON column, a CHECK constraint, a composite unique
constraint, an enum and a foreign key. Columns are declared here rather than
taken from lamina's mixins, so the committed revision in ``versions/`` matches
these rows whatever the mixins become.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lamina.persistence.base import Base, new_metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


class AppBase(Base):
    """The sample application's declarative base, with a ``MetaData`` of its own."""

    __abstract__ = True
    metadata = new_metadata()


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class ProjectRow(AppBase):
    __tablename__ = "mig_projects"
    __table_args__ = (UniqueConstraint("workspace", "name"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    workspace: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class TaskRow(AppBase):
    __tablename__ = "mig_tasks"
    __table_args__ = (CheckConstraint("rating >= 0 AND rating <= 5", name="rating_range"),)

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)
    project_id: Mapped[UUID] = mapped_column(
        ForeignKey("mig_projects.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    priority: Mapped[Priority] = mapped_column(Enum(Priority, name="mig_task_priority"))
    rating: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
