"""The declarative ``Base`` for rows and the mixins that give them standard columns.

The repository recognises the standard columns by name, whatever declared them
(these mixins, a hand-written column or a SQLModel field): ``id``,
``created_at``/``updated_at``, ``deleted_at``, ``created_by_id``/``updated_by_id``
and ``version``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeAlias
from uuid import UUID

from sqlalchemy import JSON, CheckConstraint, Index, Integer, MetaData, Table, Uuid, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column
from sqlalchemy.sql.elements import ColumnElement, TextClause

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


STANDARD_COLUMNS: dict[str, Callable[[], MappedColumn[Any]]] = {
    "id": lambda: mapped_column(Uuid(), primary_key=True, default=uuid7),
    "created_at": lambda: mapped_column(UTCDateTime(), nullable=False, default=utcnow),
    "updated_at": lambda: mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow
    ),
    "deleted_at": lambda: mapped_column(UTCDateTime(), nullable=True, default=None),
    "created_by_id": lambda: mapped_column(Uuid(), nullable=True, default=None),
    "updated_by_id": lambda: mapped_column(Uuid(), nullable=True, default=None),
    "version": lambda: mapped_column(Integer(), nullable=False, default=1),
}
"""A fresh column for each standard field, as the mixins below and
:class:`~lamina.persistence.EntityColumns` declare it."""


class UUIDPrimaryKey:
    """``id``: a UUID v7 primary key (time-ordered, so inserts stay index-friendly)."""

    id: Mapped[UUID] = STANDARD_COLUMNS["id"]()


class TimestampColumns:
    """``created_at`` and ``updated_at``, timezone-aware UTC."""

    created_at: Mapped[datetime] = STANDARD_COLUMNS["created_at"]()
    updated_at: Mapped[datetime] = STANDARD_COLUMNS["updated_at"]()


class SoftDeleteColumn:
    """``deleted_at``: set on soft delete; rows with it are hidden from reads (G1)."""

    deleted_at: Mapped[datetime | None] = STANDARD_COLUMNS["deleted_at"]()


IndexColumn: TypeAlias = str | ColumnElement[Any] | TextClause
"""What an index covers, one key at a time: a column name (``"rating"``), a descending
column (``desc("rating")``) or an expression (``func.lower(column("email"))``)."""

LIVE = "deleted_at IS NULL"
"""The predicate of live-unique indexes: the row is not soft-deleted."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def live_index(name: str, *columns: IndexColumn, **options: Any) -> Index:
    """An index on ``columns`` of a soft-deletable table, with ``deleted_at`` as its last column.

    Every read of a soft-deletable table filters ``deleted_at IS NULL`` (G1). With
    ``deleted_at`` in the index that test is answered from the index entry, so rows a
    query passes over (an offset page skips ``offset`` of them; a filter on a later
    column rejects some) are never read from the table; SQLite reads a row only when
    it returns it. Order or filter by the leading ``columns`` as with a plain index;
    a column may be descending or an expression, for the order lists are read in::

        __table_args__ = (
            live_index("ix_items_created_at_id", "created_at", "id"),
            live_index("ix_items_rating", desc("rating"), desc("created_at")),
        )

    ``options`` go to :class:`sqlalchemy.Index`. Not for uniqueness: every live
    row has ``deleted_at`` NULL and NULLs are distinct, so ``unique=True`` here
    would not stop two live rows from sharing the leading columns; use
    :func:`live_unique`.
    """
    return Index(name, *columns, "deleted_at", **options)


def live_unique(name: str, *columns: IndexColumn) -> Index:
    """Uniqueness of ``columns`` among the rows that are not soft-deleted (G18).

    A partial unique index ``WHERE deleted_at IS NULL`` (PostgreSQL and SQLite):
    a soft-deleted row never blocks a new live one with the same key, and two live
    rows never share it. A write that would break it, a restore included, raises
    :class:`~lamina.domain.AlreadyExists` naming the fields and changes nothing::

        __table_args__ = (live_unique("uq_courses_live_slug", "workspace_id", "slug"),)

    The table must have ``deleted_at`` (:class:`SoftDeleteColumn`). Migrations
    autogenerate the index and ``lamina db check`` compares its predicate too.
    """
    if not columns:
        raise ValueError(f"live_unique {name!r} needs at least one column")
    index = Index(name, *columns, unique=True, sqlite_where=text(LIVE), postgresql_where=text(LIVE))
    event.listen(index, "after_parent_attach", _require_soft_delete)
    return index


def _require_soft_delete(index: Index, table: Table) -> None:
    if "deleted_at" not in table.c:
        raise ValueError(
            f"live_unique {index.name!r}: table {table.name} has no deleted_at column "
            "(add SoftDeleteColumn); without soft delete use UniqueConstraint"
        )


def one_of(
    column: str, values: type[StrEnum] | Sequence[str], *, name: str | None = None
) -> CheckConstraint:
    """A CHECK that ``column`` holds one of ``values``: a ``StrEnum``'s, or the strings given
    (a ``Literal``'s).

    Named ``<column>_allowed`` unless ``name`` says otherwise; the naming convention
    makes it ``ck_<table>_<column>_allowed``. Migrations autogenerate it, with the
    table or added to an existing one, and a value outside the enum is refused by
    the database whoever writes it::

        __table_args__ = (one_of("status", RecordingStatus),)
    """
    if not _IDENTIFIER.fullmatch(column):
        raise ValueError(f"one_of: {column!r} is not a column name")
    allowed = [value if isinstance(value, str) else value.value for value in values]
    if not allowed:
        raise ValueError(f"one_of: {column!r} allows no value")
    listed = ", ".join("'" + value.replace("'", "''") + "'" for value in allowed)
    return CheckConstraint(f"{column} IN ({listed})", name=name or f"{column}_allowed")


class ActorColumns:
    """``created_by_id`` and ``updated_by_id``: the actor of the ``EventContext``."""

    created_by_id: Mapped[UUID | None] = STANDARD_COLUMNS["created_by_id"]()
    updated_by_id: Mapped[UUID | None] = STANDARD_COLUMNS["updated_by_id"]()


class VersionColumn:
    """``version``: incremented by every update; updates name the version they read (G2)."""

    version: Mapped[int] = STANDARD_COLUMNS["version"]()


class StandardColumns(UUIDPrimaryKey, TimestampColumns, ActorColumns, VersionColumn):
    """The usual set: UUID key, timestamps, actors and version (soft delete is opt-in)."""
