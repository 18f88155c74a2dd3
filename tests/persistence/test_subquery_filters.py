"""Subquery filters: ``where(f).in_(Repository.subquery(g, *filters))`` in the same statement."""

from __future__ import annotations

from typing import Any

import pytest
from persistence_models import Categories, Category, Products, Review, Reviews, new_product

from lamina.domain import InvalidInput
from lamina.persistence import Database, Filter, MappingError, any_of, count_queries, where


async def _shop(db: Database) -> dict[str, Any]:
    books = await Categories(db).add(Category(name="books"))
    games = await Categories(db).add(Category(name="games"))
    products = Products(db)
    novel = await products.add(new_product("NOVEL", category_id=books.id))
    atlas = await products.add(new_product("ATLAS", category_id=books.id))
    chess = await products.add(new_product("CHESS", category_id=games.id))
    reviews = Reviews(db)
    for product, author, rating in [(novel, "ann", 5), (atlas, "bob", 2), (chess, "cy", 4)]:
        await reviews.add(Review(product_id=product.id, author=author, rating=rating))
    return {"books": books, "novel": novel, "atlas": atlas, "chess": chess}


async def test_rows_filtered_by_the_values_of_another_table_in_one_statement(
    db: Database,
) -> None:
    shop = await _shop(db)
    books = Products.subquery("id", where("category_id") == shop["books"].id)

    with count_queries() as tally:
        found = await Reviews(db).list(where("product_id").in_(books))

    assert sorted(r.author for r in found) == ["ann", "bob"]
    assert tally.queries == 1
    others = await Reviews(db).list(where("product_id").not_in(books))
    assert [r.author for r in others] == ["cy"]


async def test_g1_soft_deleted_rows_are_not_selected_unless_asked_for(db: Database) -> None:
    shop = await _shop(db)
    await Products(db).delete(shop["novel"].id)
    live = Products.subquery("sku", where("name").startswith("Product"))
    every = Products.subquery("sku", where("name").startswith("Product"), include_deleted=True)

    assert sorted(p.sku for p in await Products(db, scope=[where("sku").in_(live)]).list()) == [
        "ATLAS",
        "CHESS",
    ]
    everything = Products(db, scope=[where("sku").in_(every)])
    assert len(await everything.list(include_deleted=True)) == 3


async def test_subqueries_nest_and_their_values_are_bound(db: Database) -> None:
    shop = await _shop(db)
    good = Reviews.subquery("product_id", where("rating") >= 4)
    named = Categories.subquery("id", where("name").in_(["books", "x' OR '1'='1"]))
    good_books = Products.subquery("id", where("id").in_(good), where("category_id").in_(named))

    found = await Reviews(db).list(where("product_id").in_(good_books))

    assert [r.author for r in found] == ["ann"]
    assert await good_books.contains(db, shop["novel"].id)
    assert not await good_books.contains(db, shop["chess"].id)


async def test_contains_reads_inside_the_unit_of_work(db: Database) -> None:
    async with db.unit_of_work() as uow:
        added = await Categories(uow).add(Category(name="toys"))
        toys = Categories.subquery("id", where("name") == "toys")
        assert await toys.contains(uow, added.id)
    assert await toys.contains(db, added.id)


def test_a_subquery_names_a_stored_field() -> None:
    with pytest.raises(MappingError, match="nothing"):
        Products.subquery("nothing")


async def test_any_of_matches_rows_meeting_either_filter_in_one_statement(db: Database) -> None:
    shop = await _shop(db)
    books = Products.subquery("id", where("category_id") == shop["books"].id)

    with count_queries() as tally:
        found = await Reviews(db).list(any_of(where("rating") >= 5, where("author") == "cy"))
        mixed = await Reviews(db).list(
            any_of(where("product_id").in_(books), where("rating") == 4), where("author") != "ann"
        )

    assert sorted(r.author for r in found) == ["ann", "cy"]
    assert sorted(r.author for r in mixed) == ["bob", "cy"]
    assert tally.queries == 2


async def test_any_of_checks_each_filter_like_any_other(db: Database) -> None:
    with pytest.raises(InvalidInput):
        await Reviews(db).list(any_of(where("rating") == "five"))
    with pytest.raises(InvalidInput):
        Filter.parse("rating__any", "1")
    with pytest.raises(ValueError, match="at least one"):
        any_of()
