"""Typed filters on declared fields, whitelisted ordering and offset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from persistence_models import (
    Categories,
    Category,
    Kind,
    Price,
    Product,
    Products,
    Status,
    new_product,
)

from lamina.domain import InvalidInput
from lamina.persistence import Database, Filter, Op, where

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
async def catalog(db: Database) -> list[Product]:
    """Six products with varied names, ratings, prices, statuses and release dates."""
    specs = [
        ("A", "Red Apple", 1, "1.00", Status.ACTIVE, Kind.PHYSICAL, T0),
        ("B", "green apple", 2, "2.50", Status.ACTIVE, Kind.DIGITAL, T0 + timedelta(days=1)),
        ("C", "Banana_split", 3, "2.50", Status.DRAFT, Kind.PHYSICAL, None),
        ("D", "100% Cherry", None, "10.00", Status.RETIRED, Kind.DIGITAL, None),
        ("E", "Date", 5, "0.00", Status.ACTIVE, Kind.PHYSICAL, T0 + timedelta(days=2)),
        ("F", "Elderberry", 0, "7.25", Status.DRAFT, Kind.DIGITAL, T0 - timedelta(days=1)),
    ]
    return await Products(db).add_many(
        [
            new_product(
                sku,
                name=name,
                rating=rating,
                price=Price(amount=Decimal(amount), currency="EUR"),
                status=status,
                kind=kind,
                released_at=released,
            )
            for sku, name, rating, amount, status, kind, released in specs
        ]
    )


async def _skus(db: Database, *filters: Filter, **options: object) -> list[str]:
    found = await Products(db).list(*filters, order_by=["name"], **options)  # type: ignore[arg-type]
    return sorted(p.sku for p in found)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (where("rating") == 2, "B"),
        (where("rating") != 2, "ACEF"),  # NULL is neither equal nor unequal
        (where("rating") < 2, "AF"),
        (where("rating") <= 2, "ABF"),
        (where("rating") > 2, "CE"),
        (where("rating") >= 2, "BCE"),
        (where("sku").in_(["A", "C", "Z"]), "AC"),
        (where("sku").not_in(["A", "C"]), "BDEF"),
        (where("sku").in_([]), ""),
        (where("sku").not_in([]), "ABCDEF"),
        (where("name").contains("een"), "B"),
        (where("name").contains("apple"), "B"),  # contains is case-sensitive on both databases
        (where("name").icontains("APPLE"), "AB"),
        (where("name").startswith("Ban"), "C"),
        (where("name").contains("%"), "D"),  # wildcards are literal characters
        (where("name").contains("a_s"), "C"),
        (where("name").contains("_"), "C"),
        (where("rating").is_null(), "D"),
        (where("rating").is_null(False), "ABCEF"),
        (where("status") == Status.ACTIVE, "ABE"),
        (where("status") == "draft", "CF"),  # a value is coerced to the field's type
        (where("status").not_in([Status.ACTIVE, "draft"]), "D"),
        (where("kind") == Kind.DIGITAL, "BDF"),
        (where("kind").in_(["physical"]), "ACE"),
        (where("price.amount") >= Decimal("2.50"), "BCDF"),
        (where("price.amount") < "2", "AE"),
        (where("price.currency") == "EUR", "ABCDEF"),
        (where("released_at") > T0, "BE"),
        (where("released_at") < "2024-05-02T00:00:00+00:00", "AF"),
        (where("released_at").is_null(), "CD"),
    ],
)
async def test_filter_operators(
    db: Database, catalog: list[Product], condition: Filter, expected: str
) -> None:
    assert "".join(await _skus(db, condition)) == expected


async def test_filters_combine_with_and(db: Database, catalog: list[Product]) -> None:
    skus = await _skus(db, where("status") == Status.ACTIVE, where("rating") >= 2)
    assert skus == ["B", "E"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("name__icontains", "apple", "AB"),
        ("sku", "E", "E"),
        ("sku__in", "A,B,,F", "ABF"),
        ("sku__not_in", ["A", "B"], "CDEF"),
        ("rating__ge", "3", "CE"),
        ("rating__is_null", "true", "D"),
        ("rating__is_null", "false", "ABCEF"),
        ("price.amount__gt", "5", "DF"),
        ("released_at__gt", "2024-05-02T13:00:00+01:00", "E"),
    ],
)
async def test_filters_parsed_from_query_string_keys(
    db: Database, catalog: list[Product], key: str, value: object, expected: str
) -> None:
    assert "".join(await _skus(db, Filter.parse(key, value))) == expected


def test_filter_parse_names_the_operator() -> None:
    assert Filter.parse("title__icontains", "x") == Filter("title", Op.ICONTAINS, "x")
    assert Filter.parse("title", "x") == Filter("title", Op.EQ, "x")
    assert Filter.parse("n__in", "1,2") == Filter("n", Op.IN, ["1", "2"])
    with pytest.raises(InvalidInput) as caught:
        Filter.parse("title__matches", "x")
    assert caught.value.errors[0].field == "title__matches"


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        (where("rating") == "five", "rating"),
        (where("rating") == None, "rating"),  # noqa: E711 - use is_null instead
        (where("status") == "sold", "status"),
        (where("price.amount") > "lots", "price.amount"),
        (where("released_at") > "yesterday", "released_at"),
        (where("name").icontains(5), "name"),  # type: ignore[arg-type]
        (where("sku").in_(["A"] * 1001), "sku"),
        (Filter("sku", Op.IN, "A"), "sku"),
        (where("rating").is_null(3), "rating"),  # type: ignore[arg-type]
    ],
)
async def test_a_value_that_does_not_fit_the_field_raises_invalid_input(
    db: Database, catalog: list[Product], condition: Filter, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await Products(db).list(condition)
    assert [e.field for e in caught.value.errors] == [field]


async def test_an_operator_not_declared_for_a_field_raises_invalid_input(
    db: Database, catalog: list[Product]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await Products(db).list(where("sku").icontains("a"))
    assert caught.value.errors[0].field == "sku"
    with pytest.raises(InvalidInput):
        await Products(db).count(where("price.currency") != "EUR")


async def test_ordering_by_several_declared_fields(db: Database, catalog: list[Product]) -> None:
    products = Products(db)
    by_price = await products.list(order_by=["-price.amount", "name"])
    assert [p.sku for p in by_price] == ["D", "F", "C", "B", "A", "E"]
    by_rating = await products.list(order_by=["rating"])
    assert [p.sku for p in by_rating] == ["D", "F", "A", "B", "C", "E"]  # NULL sorts first
    by_rating_desc = await products.list(order_by=["-rating"])
    assert [p.sku for p in by_rating_desc] == ["E", "C", "B", "A", "F", "D"]
    by_name = await products.list(order_by="+name")  # a single string is one field
    assert by_name[0].sku == "D"


async def test_the_default_order_is_used_when_none_is_asked(db: Database) -> None:
    products = Products(db)
    for sku in ("X", "Y", "Z"):
        await products.add(new_product(sku))
    assert [p.sku for p in await products.list()] == ["Z", "Y", "X"]  # -created_at
    categories = Categories(db)
    await categories.add_many([Category(name=n) for n in ("b", "c", "a")])
    assert [c.name for c in await categories.list()] == ["a", "b", "c"]


async def test_offset_pages(db: Database, catalog: list[Product]) -> None:
    products = Products(db)
    first = await products.page(order_by=["name"], limit=4, with_total=True)
    second = await products.page(order_by=["name"], limit=4, offset=4)
    assert (first.limit, first.offset, first.total, len(first)) == (4, 0, 6, 4)
    assert second.total is None
    assert [p.sku for p in [*first, *second]] == ["D", "C", "E", "F", "A", "B"]
    filtered = await products.page(where("kind") == Kind.DIGITAL, limit=2, with_total=True)
    assert (len(filtered), filtered.total) == (2, 3)
    beyond = await products.page(limit=10, offset=100, with_total=True)
    assert (list(beyond), beyond.total) == ([], 6)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (10, -1)])
async def test_a_bad_limit_or_offset_raises_invalid_input(
    db: Database, limit: int, offset: int
) -> None:
    with pytest.raises(InvalidInput):
        await Products(db).page(limit=limit, offset=offset)
    if offset == 0:
        with pytest.raises(InvalidInput):
            await Products(db).keyset_page(limit=limit)
