"""Keyset positions: the sort values of a page's last row, carried in a signed cursor."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from lamina.domain.entity import Entity
from lamina.domain.errors import InvalidInput
from lamina.persistence.cursors import decode_cursor, encode_cursor
from lamina.persistence.mapping import EntityMapper
from lamina.persistence.queries import OrderShape, invalid_from_validation


def _signature(order: OrderShape) -> str:
    return ",".join(f"{'-' if desc else ''}{column}" for column, desc in order)


def cursor_after(secret: bytes, order: OrderShape, mapper: EntityMapper[Any], last: Entity) -> str:
    """The cursor of the page that follows ``last`` under ``order``."""
    values = []
    for column, _ in order:
        field = mapper.field_for(column)
        value: Any = last
        for part in field.split("."):
            value = getattr(value, part) if value is not None else None
        values.append(mapper.adapter(field).dump_python(value, mode="json"))
    return encode_cursor(secret, _signature(order), values)


def position_of(
    secret: bytes, order: OrderShape, mapper: EntityMapper[Any], cursor: str
) -> list[Any]:
    """The sort values a cursor made by :func:`cursor_after` carries; InvalidInput otherwise."""
    raw = decode_cursor(secret, _signature(order), cursor)
    if len(raw) != len(order):
        raise InvalidInput.for_field("cursor", "malformed or tampered cursor")
    values = []
    for (column, _), value in zip(order, raw, strict=True):
        field = mapper.field_for(column)
        try:
            values.append(mapper.adapter(field).validate_python(value))
        except ValidationError as exc:
            raise invalid_from_validation("cursor", exc) from None
    return values
