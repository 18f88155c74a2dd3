"""Rows declared as SQLModel tables: a base of the application's own, standard fields, helpers.

A ``SQLModel`` class with ``table=True`` works as a repository's row like any
declarative class. What lamina adds is what an application needs around it::

    class EtlTable(SQLModel, registry=new_registry()):   # its own metadata and history
        pass


    class ComponentRow(EtlTable, StandardFields, SoftDeleteField, table=True):
        __tablename__ = "etl_components"
        __table_args__ = (one_of("status", Status),)
        name: str = Field(max_length=100)
        status: str = enum_field(Status)
        configuration: dict[str, Any] = json_field()
        secrets: str = encrypted_field()

The registry carries lamina's naming convention (stable constraint names in
migrations) and its column types (aware UTC datetimes, UUIDs, JSON); the
fields are those of :class:`~lamina.persistence.StandardColumns` and
:class:`~lamina.persistence.SoftDeleteColumn`, recognised by name. The row
stays a table: entities and API schemas are separate models, as everywhere.

A table can also take its fields from its entity, as
:class:`~lamina.persistence.EntityColumns` gives a declarative row its columns:
start the application's base from :class:`EntityFields` and name the entity::

    class EtlTable(EntityFields, registry=new_registry()):
        pass


    class ComponentRow(EtlTable, entity=Component, tablename="etl_components", table=True):
        __table_args__ = (live_unique("uq_etl_components_live_name", "project_id", "name"),)

Each field of the entity the table (or a mixin) does not declare becomes a
SQLModel field typed as in the entity, with the column, foreign key and CHECKs
``EntityColumns`` derives (standard fields, ``StrEnum`` and ``Literal`` values,
bounds, ``References``, ``ENCRYPTED``); a declared field is kept as written.
:func:`~lamina.persistence.row_for` and
:func:`~lamina.persistence.repository_for` find the table by its entity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic.fields import FieldInfo
from sqlalchemy import MetaData, String, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelMetaclass

from lamina.domain.entity import Entity, utcnow
from lamina.domain.ids import uuid7
from lamina.persistence.base import TYPE_ANNOTATION_MAP, new_metadata
from lamina.persistence.encryption import ENCRYPTED_INFO
from lamina.persistence.entity_columns import (
    derived_columns,
    register_row,
    unique_constraints,
    with_checks,
)
from lamina.persistence.json_values import JSONValue
from lamina.persistence.types import UTCDateTime


def new_registry() -> registry:
    """A registry for SQLModel tables with its own ``MetaData`` and lamina's naming convention:
    ``class AppTable(SQLModel, registry=new_registry())``, then ``table=True`` subclasses."""
    return registry(metadata=new_metadata(), type_annotation_map=TYPE_ANNOTATION_MAP)


class StandardFields(SQLModel):
    """``id`` (UUID v7), ``created_at``/``updated_at`` (aware UTC), actors and ``version``."""

    id: UUID = Field(default_factory=uuid7, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_id: UUID | None = None
    updated_by_id: UUID | None = None
    version: int = 1


class SoftDeleteField(SQLModel):
    """``deleted_at``: set on soft delete; rows with it are hidden from reads (G1)."""

    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def json_field(default_factory: Callable[[], Any] = dict) -> Any:
    """A JSON column (objects, lists; Pydantic models and enums dumped as JSON)."""
    return Field(default_factory=default_factory, sa_type=JSONValue)


def enum_field(values: type[StrEnum] | Sequence[str], default: str | None = None) -> Any:
    """A text column for a ``StrEnum`` or the strings of a ``Literal`` (``get_args(Status)``),
    as long as the longest value; pair it with :func:`~lamina.persistence.one_of` in
    ``__table_args__`` for the CHECK."""
    length = max(len(str(value)) for value in values)
    if default is None:
        return Field(sa_type=String(length))
    return Field(default=default, sa_type=String(length))


def encrypted_field(*, nullable: bool = False) -> Any:
    """The column of an ``ENCRYPTED`` entity field (``TEXT`` holding the sealed value),
    as :func:`~lamina.persistence.encrypted_column` declares it for declarative rows."""
    return Field(
        default=None if nullable else ...,
        sa_type=Text,
        nullable=nullable,
        sa_column_kwargs={"info": {ENCRYPTED_INFO: True}},
    )


class _EntityFieldsMeta(SQLModelMetaclass):
    """Adds the fields of ``entity=`` to the class body before SQLModel reads it."""

    def __new__(
        mcs,
        name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        *,
        entity: type[Entity] | None = None,
        tablename: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if tablename is not None:
            namespace["__tablename__"] = tablename
        if entity is None:
            return super().__new__(mcs, name, bases, namespace, **kwargs)
        metadata: MetaData = next(b.metadata for b in bases if hasattr(b, "metadata"))
        _add_fields(name, bases, namespace, entity, metadata)
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        register_row(metadata, entity, cls)
        return cls

    def __init__(
        cls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        *,
        entity: type[Entity] | None = None,
        tablename: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, bases, namespace, **kwargs)


def _add_fields(
    name: str,
    bases: tuple[type[Any], ...],
    namespace: dict[str, Any],
    entity: type[Entity],
    metadata: MetaData,
) -> None:
    annotations = namespace.setdefault("__annotations__", {})

    def declared(field: str) -> bool:
        return (
            field in annotations
            or field in namespace
            or any(field in getattr(b, "model_fields", {}) or hasattr(b, field) for b in bases)
        )

    columns, checks = derived_columns(name, entity, metadata, declared)
    for field, derived in columns.items():
        info, column = derived.field, derived.column.column
        if column.info.get(ENCRYPTED_INFO):  # the sealed value
            annotations[field] = str | None if column.nullable else str
            namespace[field] = Field(default=None, sa_column=column)
            continue
        annotation: Any = info.annotation
        annotations[field] = annotation | None if derived.nullable else annotation
        namespace[field] = Field(**_default(field, info, derived.nullable), sa_column=column)
    table = namespace.get("__tablename__") or name.lower()  # SQLModel's default
    constraints = [*checks, *unique_constraints(entity, table)]
    namespace["__table_args__"] = with_checks(namespace.get("__table_args__", ()), constraints)


def _default(field: str, info: FieldInfo, nullable: bool) -> dict[str, Any]:
    """The default of a derived field: the standard fields' own, else the entity's."""
    info = {**StandardFields.model_fields, **SoftDeleteField.model_fields}.get(field, info)
    if info.default_factory is not None and not info.default_factory_takes_validated_data:
        return {"default_factory": info.default_factory}
    if not info.is_required():
        return {"default": info.default}
    return {"default": None} if nullable else {}


class EntityFields(SQLModel, metaclass=_EntityFieldsMeta):
    """Base of SQLModel tables that take their fields from an entity:
    ``class Row(AppTable, entity=Entity, tablename="rows", table=True)`` (see the module)."""

    def __init_subclass__(
        cls, entity: type[Entity] | None = None, tablename: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)


__all__ = [
    "EntityFields",
    "SoftDeleteField",
    "StandardFields",
    "encrypted_field",
    "enum_field",
    "json_field",
    "new_registry",
]
