"""SQLModel tables on a registry of their own (``new_registry``), with lamina's standard
fields, an encrypted field, an enum, JSON and a float; entities and repositories for them."""

from __future__ import annotations

import enum
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from lamina.domain import (
    ActorTracked,
    Entity,
    SecretConfiguration,
    SoftDeletable,
    Timestamped,
    Versioned,
)
from lamina.persistence import (
    Repository,
    SoftDeleteField,
    StandardFields,
    encrypted_field,
    enum_field,
    json_field,
    live_unique,
    new_registry,
    one_of,
)


class Kind(enum.StrEnum):
    SOURCE = "source"
    SINK = "sink"


class Tables(SQLModel, registry=new_registry()):
    """The tests' SQLModel tables."""


class PluginRow(Tables, StandardFields, SoftDeleteField, table=True):
    __tablename__ = "sm_plugins"
    __table_args__ = (live_unique("uq_sm_plugins_live_name", "name"), one_of("kind", Kind))
    name: str = Field(max_length=50)
    kind: str = enum_field(Kind)
    weight: float = 1.0
    labels: list[str] = json_field(list)
    configuration: dict[str, Any] = json_field()
    secret_keys: list[str] = json_field(list)
    secrets: str = encrypted_field()


class LinkRow(Tables, table=True):
    __tablename__ = "sm_links"
    id: UUID = Field(primary_key=True)
    source_id: UUID = Field(foreign_key="sm_plugins.id")
    target_id: UUID = Field(foreign_key="sm_plugins.id")


class Plugin(Entity, Timestamped, Versioned, ActorTracked, SoftDeletable, SecretConfiguration):
    name: Annotated[str, PydanticField(min_length=1, max_length=50)]
    kind: Kind
    weight: float = 1.0
    labels: list[str] = []


class Link(Entity):
    source_id: UUID
    target_id: UUID


class Plugins(Repository[Plugin, PluginRow]):
    filterable = ("name", "kind", "weight", "id")
    sortable = ("name", "weight", "created_at")


class Links(Repository[Link, LinkRow]):
    filterable = ("source_id", "target_id")
