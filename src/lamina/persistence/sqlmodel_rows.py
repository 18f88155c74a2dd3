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
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import String, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from lamina.domain.entity import utcnow
from lamina.domain.ids import uuid7
from lamina.persistence.base import TYPE_ANNOTATION_MAP, new_metadata
from lamina.persistence.encryption import ENCRYPTED_INFO
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


def enum_field(values: type[StrEnum], default: StrEnum | None = None) -> Any:
    """A text column for a ``StrEnum`` (as long as its longest value); pair it with
    :func:`~lamina.persistence.one_of` in ``__table_args__`` for the CHECK."""
    length = max(len(member.value) for member in values)
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


__all__ = [
    "SoftDeleteField",
    "StandardFields",
    "encrypted_field",
    "enum_field",
    "json_field",
    "new_registry",
]
