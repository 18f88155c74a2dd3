"""The declarative ``Base`` for rows and the mixins that give them standard columns.

The repository recognises the standard columns by name, whatever declared them
(these mixins, a hand-written column or a SQLModel field): ``id``,
``created_at``/``updated_at``, ``deleted_at``, ``created_by_id``/``updated_by_id``
and ``version``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, Index, MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.domain.entity import utcnow
from lamina.domain.ids import uuid7
from lamina.persistence.types import UTCDateTime

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names derived from tables and columns, so migrations stay stable."""

TYPE_ANNOTATION_MAP: dict[Any, Any] = {
    datetime: UTCDateTime(),
    UUID: Uuid(),
    dict[str, Any]: JSON(),
    list[Any]: JSON(),
}


def new_metadata() -> MetaData:
    """A ``MetaData`` with lamina's naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base for an application's rows.

    ``Mapped[datetime]`` becomes :class:`UTCDateTime`, ``Mapped[UUID]`` a UUID
    column and ``Mapped[dict[str, Any]]`` a JSON column on every database.
    Applications that keep several independent schemas subclass
    ``DeclarativeBase`` themselves with :func:`new_metadata`.
    """

    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class UUIDPrimaryKey:
    """``id``: a UUID v7 primary key (time-ordered, so inserts stay index-friendly)."""

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)


class TimestampColumns:
    """``created_at`` and ``updated_at``, timezone-aware UTC."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SoftDeleteColumn:
    """``deleted_at``: set on soft delete; rows with it are hidden from reads (G1)."""

    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


def live_index(name: str, *columns: str, **options: Any) -> Index:
    """An index on ``columns`` of a soft-deletable table, with ``deleted_at`` as its last column.

    Every read of a soft-deletable table filters ``deleted_at IS NULL`` (G1). With
    ``deleted_at`` in the index that test is answered from the index entry, so rows a
    query passes over (an offset page skips ``offset`` of them; a filter on a later
    column rejects some) are never read from the table; SQLite reads a row only when
    it returns it. Order or filter by the leading ``columns`` as with a plain index::

        __table_args__ = (live_index("ix_items_created_at_id", "created_at", "id"),)

    ``options`` go to :class:`sqlalchemy.Index`. Not for uniqueness: every live
    row has ``deleted_at`` NULL and NULLs are distinct, so ``unique=True`` here
    would not stop two live rows from sharing the leading columns.
    """
    return Index(name, *columns, "deleted_at", **options)


class ActorColumns:
    """``created_by_id`` and ``updated_by_id``: the actor of the ``EventContext``."""

    created_by_id: Mapped[UUID | None] = mapped_column(default=None)
    updated_by_id: Mapped[UUID | None] = mapped_column(default=None)


class VersionColumn:
    """``version``: incremented by every update; updates name the version they read (G2)."""

    version: Mapped[int] = mapped_column(default=1)


class StandardColumns(UUIDPrimaryKey, TimestampColumns, ActorColumns, VersionColumn):
    """The usual set: UUID key, timestamps, actors and version (soft delete is opt-in)."""
