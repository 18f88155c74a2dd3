"""The field types of ``lamina.domain`` refuse what their bounds exclude, with the field named."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import pytest
from pydantic import Field, ValidationError

from lamina.api import create_schema, update_schema
from lamina.domain import (
    Description,
    Entity,
    InvalidInput,
    MessageText,
    Name,
    Price,
    Slug,
    Title,
    WebAddress,
    slug_of,
)


class Listing(Entity):
    title: Title
    name: Name = "n"
    description: Description = ""
    text: MessageText = "t"
    url: WebAddress = "https://example.com"
    price: Price = Price.free()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"name": "x" * 101}, "name"),
        ({"description": "x" * 5001}, "description"),
        ({"text": ""}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"url": "ftp://example.com"}, "url"),
        ({"price": {"amount": "-0.01", "currency": "EUR"}}, "price.amount"),
        ({"price": {"amount": "1.001", "currency": "EUR"}}, "price.amount"),
        ({"price": {"amount": "1", "currency": "eur"}}, "price.currency"),
        ({"price": {"amount": "1"}}, "price.currency"),
    ],
)
def test_out_of_bounds_values_are_refused_naming_the_field(values: dict, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Listing.model_validate({"title": "ok", **values})
    assert [".".join(map(str, e["loc"])) for e in refused.value.errors()] == [field]


def test_values_within_bounds_are_kept_as_written() -> None:
    listing = Listing(
        title="SQL from scratch",
        url="http://a.example/x?y=1",
        price=Price(amount=Decimal("19.90"), currency="EUR"),
    )
    assert listing.price == Price(amount=Decimal("19.90"), currency="EUR")
    assert Price.free("GBP") == Price(amount=Decimal(0), currency="GBP")
    assert listing.url == "http://a.example/x?y=1"


@pytest.mark.parametrize("field", ["title", "name", "description", "text"])
def test_no_text_type_takes_a_nul_character(field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Listing.model_validate({"title": "ok", field: "a\x00b"})
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]


class Page(Entity):
    title: Title
    slug: Annotated[Slug, Field(default_factory=slug_of("title", fallback="page"))]


def test_a_slug_defaults_to_the_slug_of_its_field_when_not_given() -> None:
    assert Page(title="Café au lait #2").slug == "cafe-au-lait-2"
    assert Page(title="???").slug == "page"
    assert Page(title="x", slug="given").slug == "given"
    with pytest.raises(ValidationError) as refused:  # a bad title: no slug of it is made up,
        Page.model_validate({"title": ""})  # and only the title is reported
    assert [e.field for e in InvalidInput.from_validation_error(refused.value).errors] == ["title"]


def test_input_schemas_keep_a_derived_slug_optional_and_never_reset_it() -> None:
    create, update = create_schema(Page), update_schema(Page)
    assert create.model_validate({"title": "Hello world"}).model_dump()["slug"] == "hello-world"
    assert "slug" not in create.model_json_schema().get("required", [])
    changes = update.model_validate({"title": "Renamed"}).model_dump(exclude_unset=True)
    assert changes == {"title": "Renamed"}
