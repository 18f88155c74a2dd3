"""A standalone write through the repository costs as few round trips as the database allows."""

from __future__ import annotations

import asyncio

import pytest
from persistence_models import Categories, Category, Counter, Counters, Products, new_product

from lamina.domain import AlreadyExists, VersionConflict, use_context, uuid7
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


async def test_g4_a_standalone_versioned_update_on_postgres_is_one_round_trip_without_begin(
    db: Database,
) -> None:
    products = Products(db)
    stored = await products.add(new_product("SKU-1"))
    with use_context(correlation_id="upd"), count_queries() as tally:
        updated = await products.update(stored.id, {"name": "renamed"}, expected_version=1)

    if db.dialect_name == "postgresql":
        assert tally.queries == 1  # the UPDATE reads the old values and writes its audit entry
    assert updated.version == 2
    assert (await products.get(stored.id)) == updated
    entry = (await products.history(stored.id))[-1]
    assert entry.action == "update"
    assert entry.correlation_id == "upd"
    assert entry.changes == {"name": ("Product SKU-1", "renamed")}


async def test_g2_a_standalone_update_with_a_stale_version_writes_nothing(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product("SKU-1"))
    await products.update(stored.id, {"name": "first"}, expected_version=1)

    with pytest.raises(VersionConflict):
        await products.update(stored.id, {"name": "second"}, expected_version=1)

    assert (await products.get(stored.id)).name == "first"
    assert [e.action for e in await products.history(stored.id)] == ["create", "update"]


async def test_g2_concurrent_standalone_updates_of_one_version_let_exactly_one_through(
    db: Database,
) -> None:
    products = Products(db)
    stored = await products.add(new_product("SKU-1"))

    async def rename(name: str) -> str:
        try:
            await products.update(stored.id, {"name": name}, expected_version=1)
        except VersionConflict:
            return "conflict"
        return "ok"

    outcomes = await asyncio.gather(*(rename(f"n{i}") for i in range(6)))

    assert outcomes.count("ok") == 1
    assert len(await products.history(stored.id)) == 2


async def test_concurrent_standalone_updates_without_version_all_land(db: Database) -> None:
    counters = Counters(db)
    counter = await counters.add(Counter(name="c", value=0))

    async def bump(i: int) -> None:
        await counters.update(counter.id, {"name": f"c{i}"})

    await asyncio.gather(*(bump(i) for i in range(4)))

    history = await counters.history(counter.id)
    assert len(history) == 5
    assert (await counters.get(counter.id)).version == 5
