"""A standalone write through the repository costs as few round trips as the database allows."""

from __future__ import annotations

import pytest
from persistence_models import Categories, Category, Products, new_product

from lamina.domain import AlreadyExists, use_context, uuid7
from lamina.persistence import Database, count_queries


async def test_g4_a_standalone_insert_is_one_round_trip_on_postgres_with_its_audit_entry(
    db: Database,
) -> None:
    actor = uuid7()
    categories = Categories(db)
    with use_context(actor_id=actor, correlation_id="one-trip"), count_queries() as tally:
        stored = await categories.add(Category(name="tools"))

    if db.dialect_name == "postgresql":
        assert tally.queries == 1
    (entry,) = await categories.history(stored.id)
    assert entry.action == "create"
    assert entry.actor_id == actor
    assert entry.correlation_id == "one-trip"
    assert entry.changes["name"] == (None, "tools")


async def test_g3_a_standalone_insert_that_fails_leaves_neither_row_nor_audit_entry(
    db: Database,
) -> None:
    products = Products(db)
    first = await products.add(new_product("SKU-1"))
    twin = new_product("SKU-1")

    with pytest.raises(AlreadyExists):
        await products.add(twin)

    assert await products.get_or_none(twin.id) is None
    assert await products.history(twin.id) == []
    assert len(await products.history(first.id)) == 1
