"""G5: no caller-supplied value is ever formatted into SQL; filters and sorts accept declared
fields only."""

from __future__ import annotations

import pytest
from persistence_models import Products, new_product
from sqlalchemy import inspect

from lamina.domain import InvalidInput
from lamina.persistence import Database, Filter, Op, where

INJECTION = "'; DROP TABLE t_products; --"


async def _table_exists(db: Database, name: str) -> bool:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync: inspect(sync).has_table(name))


async def test_g5_a_filter_value_that_looks_like_sql_is_just_a_value(db: Database) -> None:
    products = Products(db)
    await products.add(new_product("PLAIN"))
    evil = await products.add(new_product("EVIL", name=INJECTION))

    assert [p.id for p in await products.list(where("name") == INJECTION)] == [evil.id]
    assert [p.id for p in await products.list(where("name").icontains("drop table"))] == [evil.id]
    assert await products.list(where("sku") == INJECTION) == []
    assert await products.count(where("sku").in_([INJECTION, "' OR '1'='1"])) == 0
    assert await products.count(Filter.parse("name__startswith", "' OR 1=1 --")) == 0
    assert await products.count(where("name") != INJECTION) == 1
    await products.update(evil.id, {"name": INJECTION + " again"})

    assert await _table_exists(db, "t_products")
    assert await products.count() == 2
    assert (await products.get(evil.id)).name == INJECTION + " again"


async def test_g5_values_never_reach_the_statement_text(db: Database) -> None:
    products = Products(db)
    marker = "zz-marker-7f3a"
    await products.add_many([new_product(f"{marker}{i}", name=marker) for i in range(2)])
    await products.list(where("name") == marker, where("sku").in_([marker, "x"]))
    await products.count(where("name").icontains(marker))
    await products.page(where("sku").startswith(marker), with_total=True)
    page = await products.keyset_page(where("name") == marker, order_by=["name"], limit=1)
    assert page.next_cursor is not None
    await products.keyset_page(order_by=["name"], limit=1, cursor=page.next_cursor)
    statements = db.statements._compiled.values()
    assert statements
    assert all(marker not in s.sql for s in statements)


@pytest.mark.parametrize(
    "condition",
    [
        where("secret") == "x",  # a real column, but not declared filterable
        where("created_by_id") == "x",
        where("attributes") == "x",
        where("nope") == "x",
        where("name; DROP TABLE t_products") == "x",
        where("price") == "x",
        Filter("id) OR (1=1", Op.EQ, "x"),
    ],
)
async def test_g5_a_filter_on_an_undeclared_field_raises_invalid_input(
    db: Database, condition: Filter
) -> None:
    products = Products(db)
    with pytest.raises(InvalidInput) as caught:
        await products.list(condition)
    assert caught.value.errors[0].field == condition.field
    for read in (products.count, products.exists, products.page, products.keyset_page):
        with pytest.raises(InvalidInput):
            await read(condition)
    assert await _table_exists(db, "t_products")


@pytest.mark.parametrize(
    "sort",
    [
        "secret",
        "-status",
        "nope",
        "name desc",
        "name; DROP TABLE t_products",
        "(SELECT 1)",
        "",
        "-",
        "price",
    ],
)
async def test_g5_sorting_by_an_undeclared_field_raises_invalid_input(
    db: Database, sort: str
) -> None:
    products = Products(db)
    with pytest.raises(InvalidInput) as caught:
        await products.list(order_by=[sort])
    assert caught.value.errors[0].field == "sort"
    with pytest.raises(InvalidInput):
        await products.page(order_by=[sort])
    with pytest.raises(InvalidInput):
        await products.keyset_page(order_by=[sort])


async def test_g5_loading_an_undeclared_relation_raises_invalid_input(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    for load in (["nope"], ["category_id"], ["reviews; DROP TABLE t_products"]):
        with pytest.raises(InvalidInput) as caught:
            await products.list(load=load)
        assert caught.value.errors[0].field == "load"
        with pytest.raises(InvalidInput):
            await products.get(stored.id, load=load)


async def test_g5_the_primary_key_is_always_sortable(db: Database) -> None:
    products = Products(db)
    stored = await products.add_many([new_product(f"K{i}") for i in range(3)])
    found = await products.list(order_by=["-id"])
    assert [p.id for p in found] == sorted((p.id for p in stored), reverse=True)


async def test_g11_nul_characters_are_invalid_input_not_driver_errors(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product("NUL"))
    for query in (
        where("name") == "a\x00b",
        where("name").contains("\x00"),
        where("sku").in_(["NUL", "x\x00"]),
    ):
        with pytest.raises(InvalidInput, match="NUL"):
            await products.list(query)
    if db.dialect_name == "postgresql":  # SQLite can store NUL; PostgreSQL text cannot
        with pytest.raises(InvalidInput):
            await products.update(stored.id, {"name": "a\x00b"})
        assert (await products.get(stored.id)).name == stored.name
