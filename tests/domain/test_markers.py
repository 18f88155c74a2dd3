"""A lamina marker counts wherever Pydantic lets it be written on a field: around the whole
type, or around the type of an optional field (``Annotated[str, SENSITIVE] | None``); one
deeper in the type, where it could mean nothing, is a TypeError, never a silently unmasked,
writable or unconstrained field."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import pytest

from lamina.api import create_schema, output_schema
from lamina.domain import (
    EDITORS_ONLY,
    READ_ONLY,
    SENSITIVE,
    Entity,
    References,
    ShowLast,
    Unique,
    ValueObject,
)


class Owner(Entity):
    name: str


class Account(Entity):
    owner_id: Annotated[UUID, References(Owner), READ_ONLY] | None = None
    api_key: Annotated[str, SENSITIVE] | None = None
    iban: Annotated[str, SENSITIVE, ShowLast(4)] | None = None
    code: Annotated[str, Unique()] | None = None
    label: Annotated[str | None, SENSITIVE] = None


def test_markers_of_an_optional_field_count_written_either_way() -> None:
    assert Account.fields_marked(SENSITIVE) == {"api_key", "iban", "label"}
    assert Account.fields_marked(READ_ONLY) == {"owner_id"}
    assert any(isinstance(m, References) for m in Account.model_fields["owner_id"].metadata)
    assert any(isinstance(m, Unique) for m in Account.model_fields["code"].metadata)


def test_a_sensitive_optional_field_is_never_returned_nor_client_set_when_read_only() -> None:
    shown = output_schema(Account).model_fields
    assert "api_key" not in shown
    assert "label" not in shown
    assert "iban" in shown  # masked (ShowLast), not hidden
    assert "owner_id" not in create_schema(Account).model_fields


@pytest.mark.parametrize(
    "annotation",
    [list[Annotated[str, SENSITIVE]], dict[str, Annotated[int, READ_ONLY]] | None],
)
def test_a_marker_deeper_in_the_type_is_refused(annotation: object) -> None:
    with pytest.raises(TypeError, match="has no effect"):
        type("Odd", (Entity,), {"__annotations__": {"field": annotation}})
    with pytest.raises(TypeError, match="has no effect"):
        type("OddValue", (ValueObject,), {"__annotations__": {"field": annotation}})


def test_a_marker_lamina_reads_on_entities_only_is_refused_on_a_value_objects_field() -> None:
    with pytest.raises(TypeError, match="mark the entity's field that holds it"):
        type("Card", (ValueObject,), {"__annotations__": {"number": Annotated[str, SENSITIVE]}})


def test_editors_only_works_on_a_value_objects_field() -> None:
    class Question(ValueObject):
        answer: Annotated[int, EDITORS_ONLY]

    assert EDITORS_ONLY in Question.model_fields["answer"].metadata
