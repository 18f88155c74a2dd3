"""``EntityColumns``: a row's columns and CHECK constraints derived from its entity's fields.

An entity already says what each field holds (``Annotated[int, Field(gt=0)]``,
``Annotated[str, StringConstraints(max_length=200)]``, a ``StrEnum``, a
``ValueObject``); writing the same again as columns is the duplication the seed's
"no database constraints" comes from. Put :class:`EntityColumns` first in the
declarative base, and name the entity on each row::

    class AppBase(EntityColumns, DeclarativeBase): ...  # its own metadata and column types

    class VideoRow(AppBase, entity=Video, tablename="videos"):
        __table_args__ = (Index("ix_videos_duration", "duration_s"),)
        url: Mapped[str] = mapped_column(Text())  # declared: kept

Every field the row (or a mixin) does not declare gets a column. The standard
fields get lamina's standard columns (``id`` the UUID primary key, the
timestamps, ``version``, the actors, and ``deleted_at`` for a
:class:`~lamina.domain.SoftDeletable` entity), so the entity alone decides
whether its rows are versioned or soft-deleted; ``str`` a
``String(max_length)`` (``Text`` without one), ``int`` an ``Integer`` (a
``BigInteger`` when its bounds go beyond 32 bits), ``bool``, ``float``,
``Decimal`` a ``Numeric(max_digits, decimal_places)``, ``UUID``, ``datetime``
(:class:`UTCDateTime`), a ``StrEnum`` or a ``Literal`` of strings a ``String`` with
a :func:`one_of` CHECK,
lists, dicts and models :class:`JSONValue`, a :class:`ValueObject` one column per
part (``price_amount``, ``price_currency``); ``X | None`` is nullable. Numeric
bounds (``ge``, ``gt``, ``le``, ``lt``) become a CHECK named ``<column>_range``, so
the database refuses what the entity refuses, and a broken one is a 422 naming
the field like the Pydantic rule. A field marked
:class:`~lamina.domain.References` (``Annotated[UUID, References(Course)]``) gets
a foreign key to the table of that entity's row (declared earlier on the same
metadata) and an index; one marked ``ENCRYPTED`` an
:func:`~lamina.persistence.encrypted_column`; one marked
:class:`~lamina.domain.Unique` its unique constraint (see :func:`unique_constraints`). A
field of another type must be declared on the row (:class:`MappingError` says which).
SQLModel tables get the same from :class:`~lamina.persistence.EntityFields`.
"""

from __future__ import annotations

import inspect
import typing
import weakref
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from annotated_types import Ge, Gt, Le, Lt, MaxLen
from pydantic import BaseModel, StringConstraints
from pydantic.fields import FieldInfo
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column
from sqlalchemy.types import TypeEngine

from lamina.domain.choices import allowed_strings
from lamina.domain.entity import ENCRYPTED, Entity, References, Unique
from lamina.persistence.base import (
    STANDARD_COLUMNS,
    TYPE_ANNOTATION_MAP,
    live_unique,
    new_metadata,
    one_of,
)
from lamina.persistence.encryption import encrypted_column
from lamina.persistence.json_values import JSONValue
from lamina.persistence.mapping import MappingError, _optional_of, _value_object_type
from lamina.persistence.types import UTCDateTime

_BOUNDS = ((Ge, "ge", ">="), (Gt, "gt", ">"), (Le, "le", "<="), (Lt, "lt", "<"))
_INT32 = (-(2**31), 2**31 - 1)


_TABLES: weakref.WeakKeyDictionary[MetaData, dict[type[Entity], str]] = weakref.WeakKeyDictionary()
"""Per metadata, the table of each entity's row (what a ``References`` field points to)."""


_ROWS: weakref.WeakKeyDictionary[type[Entity], type] = weakref.WeakKeyDictionary()
"""The row class of each entity (the last declared), for :func:`row_for`."""


class EntityColumns:
    """Mixin of a declarative base: ``class Row(AppBase, entity=Entity, tablename="rows")`` gets
    the columns and CHECKs of the entity's fields it does not declare itself (see the module).

    The base itself (``class AppBase(EntityColumns, DeclarativeBase)``) gets a metadata of its
    own with lamina's naming convention (:func:`new_metadata`) and lamina's column types
    (``Base.type_annotation_map``), unless it declares them."""

    type_annotation_map: typing.ClassVar[dict[Any, Any]] = TYPE_ANNOTATION_MAP

    def __init_subclass__(
        cls, entity: type[Entity] | None = None, tablename: str | None = None, **kwargs: Any
    ) -> None:
        if DeclarativeBase in cls.__bases__ and "metadata" not in cls.__dict__:
            cls.metadata = new_metadata()  # type: ignore[attr-defined]  # the app's own
        if tablename is not None:
            cls.__tablename__ = tablename  # type: ignore[attr-defined]
        if entity is not None:
            _add_columns(cls, entity)
        super().__init_subclass__(**kwargs)
        if entity is not None:
            register_row(cls.metadata, entity, cls)  # type: ignore[attr-defined]


def register_row(metadata: MetaData, entity: type[Entity], row: type) -> None:
    """Record ``row`` as ``entity``'s: its table is what ``References(entity)`` fields of rows
    declared later on ``metadata`` point to, and :func:`row_for` returns it."""
    _TABLES.setdefault(metadata, {})[entity] = row.__tablename__  # type: ignore[attr-defined]
    _ROWS[entity] = row


def row_for(entity: type[Entity]) -> type:
    """The row class declared for ``entity`` with :class:`EntityColumns` (the last one).

    Raises :class:`MappingError` when no row names the entity (import the rows' module first).
    """
    row = _ROWS.get(entity)
    if row is None:
        raise MappingError(
            f"no row declares entity={entity.__name__}; declare "
            f"class {entity.__name__}Row(AppBase, entity={entity.__name__}) and import it"
        )
    return row


class DerivedColumn(NamedTuple):
    """A column derived from an entity field: the column, the field (or value-object part)
    it stores, and whether it is nullable."""

    column: MappedColumn[Any]
    field: FieldInfo
    nullable: bool


def _declared(cls: type, column: str) -> bool:
    return hasattr(cls, column) or column in inspect.get_annotations(cls)


def _add_columns(cls: type, entity: type[Entity]) -> None:
    metadata: MetaData = cls.metadata  # type: ignore[attr-defined]
    columns, checks = derived_columns(
        cls.__name__, entity, metadata, lambda column: _declared(cls, column)
    )
    for name, derived in columns.items():
        setattr(cls, name, derived.column)
    constraints = [*checks, *unique_constraints(entity, cls.__tablename__)]  # type: ignore[attr-defined]
    cls.__table_args__ = with_checks(cls.__dict__.get("__table_args__", ()), constraints)  # type: ignore[attr-defined]


def unique_constraints(entity: type[Entity], table: str) -> list[UniqueConstraint | Index]:
    """The constraints of ``entity``'s :class:`~lamina.domain.Unique` fields: a ``live_unique``
    index named ``uq_<table>_live_<field>`` for a soft-deletable entity, else a
    ``UniqueConstraint`` (named by the metadata's convention), on the ``within`` fields and
    then the field."""
    live = "deleted_at" in entity.model_fields
    made: list[UniqueConstraint | Index] = []
    for name, info in entity.model_fields.items():
        for marker in info.metadata:
            if isinstance(marker, Unique):
                unknown = [f for f in marker.within if f not in entity.model_fields]
                if unknown or _value_object_type(info.annotation)[0] is not None:
                    raise MappingError(
                        f"{entity.__name__}.{name}: Unique{marker.within!r} needs plain fields"
                        f" of {entity.__name__}" + (f" (no {unknown})" if unknown else "")
                    )
                columns = (*marker.within, name)
                made.append(
                    live_unique(f"uq_{table}_live_{name}", *columns)
                    if live
                    else UniqueConstraint(*columns)
                )
    return made


def with_checks(args: Any, checks: Sequence[CheckConstraint | UniqueConstraint | Index]) -> Any:
    """``__table_args__`` with ``checks`` added before its keyword dictionary (if any), but
    those of a name it declares already (the row's own says it)."""
    if not checks:
        return args
    if isinstance(args, dict):
        args = (args,)
    keywords = args[-1:] if args and isinstance(args[-1], dict) else ()
    positional = args[: len(args) - len(keywords)]
    declared = {getattr(a, "name", None) for a in positional} - {None}
    added = [c for c in checks if c.name is None or c.name not in declared]
    return (*positional, *added, *keywords)


def derived_columns(
    owner: str, entity: type[Entity], metadata: MetaData, declared: Callable[[str], bool]
) -> tuple[dict[str, DerivedColumn], list[CheckConstraint]]:
    """The columns of ``entity``'s fields that are not ``declared``, and their CHECKs (see the
    module); ``owner`` names the row in errors."""
    columns: dict[str, DerivedColumn] = {}
    checks: list[CheckConstraint] = []
    for name, info in entity.model_fields.items():
        value_object, optional = _value_object_type(info.annotation)
        if value_object is None:
            parts = [(name, info, False)]
        else:
            parts = [(f"{name}_{s}", i, optional) for s, i in value_object.model_fields.items()]
        for column, part, nullable in parts:
            if declared(column):
                continue
            if column in STANDARD_COLUMNS:
                columns[column] = DerivedColumn(STANDARD_COLUMNS[column](), part, nullable)
            else:
                made, more = _column(owner, entity, metadata, column, part, nullable)
                columns[column] = DerivedColumn(made, part, nullable)
                checks += more
    return columns, checks


def _column(
    owner: str,
    entity: type[Entity],
    metadata_of_row: MetaData,
    column: str,
    info: FieldInfo,
    nullable: bool,
) -> tuple[MappedColumn[Any], list[CheckConstraint]]:
    annotation, optional = _optional_of(info.annotation)
    metadata = list(info.metadata)
    if typing.get_origin(annotation) is typing.Annotated:  # Annotated[X, ...] | None
        metadata += [m for m in annotation.__metadata__ if m not in metadata]  # not lifted
        annotation = annotation.__origin__
    if ENCRYPTED in metadata:
        return encrypted_column(nullable=nullable or optional), []
    sql_type = _column_type(annotation, metadata)
    if sql_type is None:
        raise MappingError(
            f"{owner}: no column type for {entity.__name__}.{column} "
            f"({annotation!r}); declare the column on the row"
        )
    foreign_keys = [
        _foreign_key(owner, entity, metadata_of_row, column, m)
        for m in metadata
        if isinstance(m, References)
    ]
    made = mapped_column(
        sql_type, *foreign_keys, nullable=nullable or optional, index=bool(foreign_keys) or None
    )
    checks: list[CheckConstraint] = []
    allowed = allowed_strings(annotation)
    if allowed:
        checks.append(one_of(column, allowed))
    bounds = [f"{column} {sign} {value}" for sign, value in _bounds(metadata)]
    if bounds:
        checks.append(CheckConstraint(" AND ".join(bounds), name=f"{column}_range"))
    return made, checks


def _bounds(metadata: list[Any]) -> list[tuple[str, Any]]:
    """The numeric bounds in a field's metadata: ``(">=", 0)``, ``("<=", 5)``…"""
    return [
        (sign, getattr(m, attribute))
        for m in metadata
        for kind, attribute, sign in _BOUNDS
        if isinstance(m, kind)
    ]


def _foreign_key(
    owner: str, entity: type[Entity], metadata: MetaData, column: str, marker: References
) -> ForeignKey:
    table = _TABLES.get(metadata, {}).get(marker.entity)
    if table is None:
        raise MappingError(
            f"{owner}: {entity.__name__}.{column} references {marker.entity.__name__}, "
            f"which has no row on this metadata yet; declare its row first"
        )
    return ForeignKey(f"{table}.id")


def _metadata_value(metadata: list[Any], attribute: str) -> Any:
    for m in metadata:
        value = getattr(m, attribute, None)
        if value is not None:
            return value
    return None


def _column_type(annotation: Any, metadata: list[Any]) -> TypeEngine[Any] | None:
    origin = typing.get_origin(annotation) or annotation
    allowed = allowed_strings(annotation)
    if allowed:
        return String(max(len(value) for value in allowed))
    if annotation is bool:
        return Boolean()
    if annotation is int:
        wide = any(not _INT32[0] <= value <= _INT32[1] for _, value in _bounds(metadata))
        return BigInteger() if wide else Integer()
    if annotation is float:
        return Float()
    if annotation is Decimal:
        digits, places = (_metadata_value(metadata, a) for a in ("max_digits", "decimal_places"))
        return Numeric(digits or 18, places or 0) if digits or places else Numeric()
    if annotation is str:
        lengths = [m.max_length for m in metadata if isinstance(m, StringConstraints | MaxLen)]
        known = [n for n in lengths if n is not None]
        return String(min(known)) if known else Text()
    simple: dict[Any, TypeEngine[Any]] = {UUID: Uuid(), datetime: UTCDateTime(), date: Date()}
    if annotation in simple:
        return simple[annotation]
    if origin in (list, dict, tuple, set, frozenset) or (
        isinstance(annotation, type) and issubclass(annotation, BaseModel)
    ):
        return JSONValue()
    return None
