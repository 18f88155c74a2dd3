"""Changes written without reading the row first: what makes one possible, and its values.

An update normally reads the row, validates the whole entity with the changes
applied, then writes. It can skip the read when nothing about the changes
depends on the rest of the row: the entity has no validators (which may look
across fields), and each changed field is one plain column (text, integer,
boolean, uuid, date or timestamp; not encrypted) whose JSON in an audit entry
the database can write exactly as Pydantic does. The values are then validated
field by field (with the field's constraints and the model's settings), and the
statement itself reads the old values it needs for the audit entry
(:mod:`lamina.persistence.audited_writes`).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Boolean, Date, DateTime, Enum, Integer, String, Uuid
from sqlalchemy.types import TypeEngine

from lamina.domain.entity import Entity
from lamina.domain.errors import FieldError, InvalidInput
from lamina.persistence.creation_changes import dumps_plain_values
from lamina.persistence.mapping import EntityMapper, _optional_of
from lamina.persistence.types import UTCDateTime

_COLUMN_TYPES: dict[type[Any], tuple[type[TypeEngine[Any]], ...]] = {
    str: (String,),
    bool: (Boolean,),
    int: (Integer,),
    UUID: (Uuid,),
    datetime: (UTCDateTime, DateTime),
    date: (Date,),
}
"""Python types whose stored value the database turns into Pydantic's JSON, and the
column types that store them."""


@dataclass(frozen=True, slots=True)
class FieldColumn:
    """A field whose JSON the database writes from its column: the column, and its kind."""

    field: str
    column: str
    kind: type[Any]
    """The field's Python type (a key of :data:`_COLUMN_TYPES`): how the stored value
    becomes Pydantic's JSON (an aware timestamp as ``…T12:00:00.120000Z``)."""
    sensitive: bool


UnreadChange = tuple[dict[str, Any], dict[str, Any], tuple[FieldColumn, ...]]
"""A change written without reading the row: its validated field values, the lifecycle's
raw column values and the changed fields' columns."""


def plain_column(field: str, mapper: EntityMapper[Any]) -> FieldColumn | None:
    """The column of ``field`` if the database can write its JSON as the entity does."""
    if not dumps_plain_values(mapper.entity, (field,)):
        return None
    column = mapper.column_for(field)
    if column is None or "." in field or mapper.encrypted(column.name) is not None:
        return None
    if column.primary_key or column.name == "version":
        return None
    annotation, _ = _optional_of(mapper.entity.model_fields[field].annotation)
    allowed = _COLUMN_TYPES.get(annotation) if isinstance(annotation, type) else None
    column_type = column.type
    if allowed is None or isinstance(column_type, Enum) or not isinstance(column_type, allowed):
        return None
    aware = isinstance(column_type, UTCDateTime) or getattr(column_type, "timezone", False)
    if annotation is datetime and not aware:
        return None
    return FieldColumn(field, column.name, annotation, field in mapper.sensitive)


class UnreadChanges:
    """Per entity mapper: which fields an update may set without reading the row first."""

    def __init__(self, mapper: EntityMapper[Any]) -> None:
        entity: type[Entity] = mapper.entity
        decorators = entity.__pydantic_decorators__
        self._mapper = mapper
        self._enabled = not (
            decorators.validators
            or decorators.field_validators
            or decorators.root_validators
            or decorators.model_validators
        )
        self._columns: dict[str, FieldColumn | None] = {}
        self._adapters: dict[str, TypeAdapter[Any]] = {}

    def columns(self, fields: typing.Iterable[str]) -> tuple[FieldColumn, ...] | None:
        """The columns of ``fields``, or None if one of them needs the row read first."""
        if not self._enabled:
            return None
        out = []
        for field in fields:
            if field not in self._columns:
                self._columns[field] = plain_column(field, self._mapper)
            column = self._columns[field]
            if column is None:
                return None
            out.append(column)
        return tuple(out)

    def validated(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """``changes`` validated field by field, as the entity validates them (InvalidInput)."""
        out: dict[str, Any] = {}
        errors: list[FieldError] = []
        for field, value in changes.items():
            try:
                out[field] = self._adapter(field).validate_python(value)
            except ValidationError as exc:
                errors += [
                    FieldError(".".join(str(p) for p in (field, *e["loc"])), e["msg"])
                    for e in exc.errors()
                ]
        if errors:
            summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
            raise InvalidInput(f"invalid values: {summary}", errors)
        return out

    def _adapter(self, field: str) -> TypeAdapter[Any]:
        found = self._adapters.get(field)
        if found is None:
            entity = self._mapper.entity
            info = entity.model_fields[field]
            annotated: Any = Annotated[info.annotation, info]
            found = TypeAdapter(annotated, config=entity.model_config)
            self._adapters[field] = found
        return found
