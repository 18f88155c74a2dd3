"""The audit changes of new entities: every business field, from nothing to its value.

A bulk insert builds one of these per row, so the common case is kept cheap:
when every listed field holds a plain value (text, numbers, ids, dates,
enums…) whose JSON pydantic-core writes the same way with or without the
model, the values are taken straight from the entities; otherwise (custom
serializers, nested models, other config) pydantic dumps the entities.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import PlainSerializer, TypeAdapter, WrapSerializer

from lamina.domain.entity import MASK, Entity
from lamina.persistence.mapping import values_getter

_PLAIN_TYPES = (str, int, bool, UUID, datetime, date, Decimal)
"""Types whose JSON from ``pydantic_core.to_json(value)`` equals their JSON in a model dump."""

_DEFAULT_CONFIG = {"ser_json_temporal": "iso8601", "serialize_by_alias": False}
"""Model settings that change how a dump writes plain values or names fields, at their defaults."""

Changes = dict[str, list[Any]]


def _is_plain(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, (*_PLAIN_TYPES, enum.Enum))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return all(arg is type(None) or _is_plain(arg) for arg in typing.get_args(annotation))
    return False


def dumps_plain_values(entity: type[Entity], names: Collection[str]) -> bool:
    """True if dumping ``names`` of ``entity`` (mode ``json``) gives their Python values' JSON.

    That holds when each field is annotated with a plain type (or an optional
    one), no serializer is attached to the field or the model, and the model
    keeps the settings that would change dates or field names at their defaults.
    """
    decorators = entity.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return False
    config = entity.model_config
    if any(config.get(key, default) != default for key, default in _DEFAULT_CONFIG.items()):
        return False
    for name in names:
        field = entity.model_fields[name]
        if not _is_plain(field.annotation):
            return False
        if any(isinstance(m, (PlainSerializer, WrapSerializer)) for m in field.metadata):
            return False
    return True


class CreationChanges:
    """Builds the audit changes of new ``entity`` instances (sensitive fields masked)."""

    def __init__(self, entity: type[Entity], names: Collection[str], sensitive: Collection[str]):
        self.names = tuple(sorted(names))
        self.sensitive = tuple(name for name in self.names if name in sensitive)
        self._values: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None
        self._adapter: TypeAdapter[Any] | None = None
        self._include = {"__all__": set(self.names)}
        if dumps_plain_values(entity, self.names):
            self._values = values_getter(self.names)
        else:
            self._adapter = TypeAdapter(list[entity])  # type: ignore[valid-type]

    def __call__(self, entities: Sequence[Entity]) -> list[Changes]:
        """``{field: [None, value]}`` for each entity, ready for ``pydantic_core.to_json``."""
        names = self.names
        if self._values is not None:
            values = self._values
            changes = [
                {k: [None, v] for k, v in zip(names, values(e.__dict__), strict=True)}
                for e in entities
            ]
        else:
            assert self._adapter is not None
            dumped = self._adapter.dump_python(entities, mode="json", include=self._include)
            changes = [{k: [None, v] for k, v in data.items()} for data in dumped]
        for name in self.sensitive:
            for change in changes:
                if name in change:
                    change[name] = [None, MASK]
        return changes
