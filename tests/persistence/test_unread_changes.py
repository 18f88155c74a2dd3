"""A versioned change the caller fully describes is written without reading the row first.

On PostgreSQL one statement locks the row, checks its version, writes it and
(outside a unit of work) its audit entry, whose old values the database reads
itself; only a change that writes nothing costs a second round trip, to say why.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from persistence_models import Item, Items, Products, new_product

from lamina.domain import InvalidInput, NotFound, VersionConflict, use_context, uuid7
from lamina.persistence import Database, count_queries

pytestmark = pytest.mark.asyncio


def _item(name: str = "a", **fields: object) -> Item:
    return Item(name=name, rank=1, **fields)  # type: ignore[arg-type]


async def test_g2_a_standalone_soft_delete_is_one_round_trip_and_checks_the_version(
    db: Database,
) -> None:
    items = Items(db)
    stored = await items.add(_item())
    with pytest.raises(VersionConflict) as stale:
        await items.delete(stored.id, expected_version=7)
    assert stale.value.actual == 1  # told apart from a missing row, version named

    with count_queries() as tally:
        await items.delete(stored.id, expected_version=1)

    if db.dialect_name == "postgresql":
        assert tally.queries == 1
    assert await items.get_or_none(stored.id) is None
    gone = await items.get(stored.id, include_deleted=True)
    assert gone.version == 2
    history = await items.history(stored.id)
    assert [e.action for e in history] == ["create", "delete"]
    old, new = history[-1].changes["deleted_at"]
    assert old is None
    assert datetime.fromisoformat(new) == gone.deleted_at


async def test_g2_a_missing_or_deleted_row_is_not_found_and_a_stale_version_a_conflict(
    db: Database,
) -> None:
    items = Items(db)
    stored = await items.add(_item())
    with pytest.raises(NotFound):
        await items.update(uuid7(), {"name": "b"}, expected_version=1)
    with pytest.raises(VersionConflict) as stale:
        await items.update(stored.id, {"name": "b"}, expected_version=2)
    assert (stale.value.expected, stale.value.actual) == (2, 1)
    await items.delete(stored.id, expected_version=1)
    with pytest.raises(NotFound):
        await items.update(stored.id, {"name": "b"}, expected_version=2)
    with pytest.raises(NotFound):
        await items.delete(stored.id)

    assert [e.action for e in await items.history(stored.id)] == ["create", "delete"]


async def test_g4_the_database_writes_old_and_new_values_as_the_entity_would(
    db: Database,
) -> None:
    items = Items(db)
    first = datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC)
    second = datetime(2024, 5, 6, 9, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    stored = await items.add(_item())

    one = await items.update(stored.id, {"due_at": first, "rank": 2}, expected_version=1)
    two = await items.update(stored.id, {"due_at": second, "rank": 2}, expected_version=2)
    three = await items.update(stored.id, {"due_at": None, "name": "b"}, expected_version=3)

    assert (one.version, two.version, three.version) == (2, 3, 4)
    assert two.due_at == second
    assert (await items.get(stored.id, include_deleted=True)).due_at is None
    changes = [e.changes for e in await items.history(stored.id)][1:]
    assert changes == [  # new values as given, old ones as read back (in UTC, G13)
        {"due_at": (None, "2024-05-06T07:08:09.120000Z"), "rank": (1, 2)},
        {"due_at": ("2024-05-06T07:08:09.120000Z", "2024-05-06T09:00:00+02:00")},
        {"due_at": ("2024-05-06T07:00:00Z", None), "name": ("a", "b")},
    ]
    assert await items.get(stored.id) == three


async def test_g4_sensitive_values_stay_masked_and_unchanged_values_unlisted(
    db: Database,
) -> None:
    products = Products(db)
    stored = await products.add(new_product("SKU-1", secret="s1"))

    with count_queries() as tally:
        updated = await products.update(
            stored.id, {"secret": "s2", "name": stored.name}, expected_version=1
        )

    if db.dialect_name == "postgresql":
        assert tally.queries == 1
    assert updated.secret == "s2"
    entry = (await products.history(stored.id))[-1]
    assert entry.changes == {"secret": ("***", "***")}


async def test_g2_a_change_that_changes_nothing_writes_nothing(db: Database) -> None:
    items = Items(db)
    stored = await items.add(_item("same"))

    unchanged = await items.update(stored.id, {"name": "same"}, expected_version=1)

    assert unchanged == stored
    assert (await items.get(stored.id)).version == 1
    assert len(await items.history(stored.id)) == 1


async def test_g12_values_are_validated_field_by_field_before_anything_is_written(
    db: Database,
) -> None:
    products = Products(db)
    stored = await products.add(new_product("SKU-1"))

    with pytest.raises(InvalidInput) as invalid:
        await products.update(stored.id, {"name": "", "rating": "x"}, expected_version=1)
    assert sorted(e.field for e in invalid.value.errors) == ["name", "rating"]
    item = await Items(db).add(_item())
    with pytest.raises(InvalidInput):  # an aware timestamp is required (G13)
        await Items(db).update(item.id, {"due_at": datetime(2024, 1, 1)})

    assert (await products.get(stored.id)).version == 1
    assert len(await products.history(stored.id)) == 1
    assert (await Items(db).get(item.id)).version == 1


async def test_g2_in_a_unit_of_work_an_update_with_its_version_sends_no_select(
    db: Database,
) -> None:
    items = Items(db)
    stored = await items.add(_item())

    with use_context(correlation_id="uow"):
        async with db.unit_of_work() as uow:
            with count_queries() as tally:
                changed = await Items(uow).update(stored.id, {"rank": 5}, expected_version=1)
                deleted = await Items(uow).add(_item("b"))
                await Items(uow).delete(deleted.id, expected_version=1)
            with pytest.raises(VersionConflict):
                await Items(uow).update(stored.id, {"rank": 6}, expected_version=1)

    if db.dialect_name == "postgresql":
        assert tally.queries == 3  # one statement per write, audit entries at commit
    assert changed.version == 2
    assert changed.rank == 5
    entry = (await items.history(stored.id))[-1]
    assert (entry.action, entry.changes, entry.correlation_id) == (
        "update",
        {"rank": (1, 5)},
        "uow",
    )
    assert [e.action for e in await items.history(deleted.id)] == ["create", "delete"]


async def test_g3_a_unit_of_work_that_rolls_back_keeps_neither_change_nor_entry(
    db: Database,
) -> None:
    items = Items(db)
    stored = await items.add(_item())

    async def failing_use_case() -> None:
        async with db.unit_of_work() as uow:
            await Items(uow).update(stored.id, {"rank": 5}, expected_version=1)
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()

    assert (await items.get(stored.id)).rank == 1
    assert len(await items.history(stored.id)) == 1


@pytest.mark.parametrize("in_units", [False, True])
async def test_g2_concurrent_updates_of_one_version_let_exactly_one_through_per_version(
    db: Database, in_units: bool
) -> None:
    items = Items(db)
    stored = await items.add(_item())
    writers = 6

    async def bump(writer: int, version: int) -> str:
        try:
            if in_units:
                async with db.unit_of_work() as uow:
                    await Items(uow).update(stored.id, {"rank": writer}, expected_version=version)
            else:
                await items.update(stored.id, {"rank": writer}, expected_version=version)
        except VersionConflict:
            return "conflict"
        return "ok"

    for version in (1, 2, 3):
        outcomes = await asyncio.gather(*(bump(100 * version + w, version) for w in range(writers)))
        assert outcomes.count("ok") == 1
        assert outcomes.count("conflict") == writers - 1

    current = await items.get(stored.id)
    assert current.version == 4
    history = await items.history(stored.id)
    assert [e.action for e in history] == ["create", "update", "update", "update"]
    ranks = [e.changes["rank"] for e in history[1:]]
    assert ranks[0][0] == 1
    assert ranks[-1][1] == current.rank
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranks))
