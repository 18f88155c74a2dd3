"""G4: the audit entry of a creation lists every business field, whichever way it is built.

Entities whose fields hold plain values take a fast path (values read straight
from the entity); the others are dumped by pydantic. Both must write the same JSON.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import ConfigDict, Field, PlainSerializer, field_serializer
from pydantic_core import to_json

from lamina.domain import SENSITIVE, Entity, ValueObject, uuid7
from lamina.persistence.creation_changes import CreationChanges, dumps_plain_values


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


class Plain(Entity):
    name: str = Field(min_length=1)
    count: int = 0
    active: bool = True
    owner: UUID | None = None
    due: date | None = None
    at: datetime | None = None
    price: Decimal = Decimal("0")
    colour: Colour = Colour.RED
    size: Size | None = None
    token: Annotated[str, SENSITIVE] = ""


class Point(ValueObject):
    x: int
    y: int


class WithValueObject(Entity):
    name: str
    where: Point


class WithFieldSerializer(Entity):
    name: str

    @field_serializer("name")
    def _shout(self, value: str) -> str:
        return value.upper()


class WithAnnotatedSerializer(Entity):
    name: Annotated[str, PlainSerializer(lambda v: f"<{v}>")]


class WithTemporalConfig(Entity):
    model_config = ConfigDict(ser_json_temporal="milliseconds")

    at: datetime


def _reference(entity: Entity, names: set[str], sensitive: set[str]) -> bytes:
    data = entity.model_dump(mode="json", include=names)
    return to_json({k: [None, "***" if k in sensitive else v] for k, v in sorted(data.items())})


def test_g4_plain_fields_are_read_straight_and_written_as_a_dump_would() -> None:
    names = set(Plain.model_fields) - {"id"}
    assert dumps_plain_values(Plain, names)
    build = CreationChanges(Plain, names, {"token"})
    entities = [
        Plain(name="a", token="secret"),
        Plain(
            name="b",
            count=7,
            active=False,
            owner=uuid7(),
            due=date(2026, 11, 22),
            at=datetime(2026, 11, 22, 10, 30, 1, 250, tzinfo=UTC),
            price=Decimal("12.50"),
            size=Size.LARGE,
        ),
    ]
    for entity, changes in zip(entities, build(entities), strict=True):
        assert to_json(changes) == _reference(entity, names, {"token"})
        assert changes["token"] == [None, "***"]


def test_g4_other_fields_are_dumped_by_pydantic() -> None:
    cases: list[tuple[Entity, bytes]] = [
        (WithValueObject(name="n", where=Point(x=1, y=2)), b'"where":[null,{"x":1,"y":2}]'),
        (WithFieldSerializer(name="quiet"), b'"name":[null,"QUIET"]'),
        (WithAnnotatedSerializer(name="n"), b'"name":[null,"<n>"]'),
        (WithTemporalConfig(at=datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)), b'"at":[null,1000'),
    ]
    for entity, expected in cases:
        kind = type(entity)
        names = set(kind.model_fields) - {"id"}
        assert not dumps_plain_values(kind, names)
        (changes,) = CreationChanges(kind, names, set())([entity])
        assert expected in to_json(changes)
        assert to_json(changes) == _reference(entity, names, set())
