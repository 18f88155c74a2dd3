"""G2: an update or delete with a stale version writes nothing and raises VersionConflict."""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from uuid import UUID

import pytest
from persistence_models import Counter, Counters, Products, new_product

from lamina.domain import VersionConflict
from lamina.persistence import Database

TASKS = 20


async def test_g2_a_stale_update_writes_nothing(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product(rating=1))
    current = await products.update(stored.id, {"rating": 2}, expected_version=1)

    with pytest.raises(VersionConflict) as caught:
        await products.update(stored.id, {"rating": 5, "name": "lost"}, expected_version=1)

    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert caught.value.details() == {
        "entity": "Product",
        "id": str(stored.id),
        "expected_version": 1,
        "actual_version": 2,
    }
    assert await products.get(stored.id) == current
    assert [e.action for e in await products.history(stored.id)] == ["create", "update"]
    assert db.stats.version_conflicts == 1


async def test_g2_a_stale_delete_writes_nothing(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    await products.update(stored.id, {"rating": 2})
    with pytest.raises(VersionConflict):
        await products.delete(stored.id, expected_version=1)
    with pytest.raises(VersionConflict):
        await products.hard_delete(stored.id, expected_version=1)
    assert (await products.get(stored.id)).version == 2
    assert [e.action for e in await products.history(stored.id)] == ["create", "update"]
    await products.delete(stored.id, expected_version=2)
    assert await products.get_or_none(stored.id) is None


async def test_g2_a_future_version_is_stale_too(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    with pytest.raises(VersionConflict):
        await products.update(stored.id, {"rating": 2}, expected_version=2)
    assert await products.get(stored.id) == stored


async def test_g2_concurrent_updates_of_the_version_read_let_exactly_one_win(
    db: Database,
) -> None:
    counters = Counters(db)
    counter = await counters.add(Counter(name="race"))
    everyone_read = asyncio.Barrier(TASKS)

    async def bump(n: int) -> bool:
        seen = await counters.get(counter.id)
        await everyone_read.wait()
        try:
            await counters.update(counter.id, {"value": n}, expected_version=seen.version)
        except VersionConflict:
            return False
        return True

    outcomes = await asyncio.gather(*(bump(n) for n in range(1, TASKS + 1)))

    assert outcomes.count(True) == 1
    final = await counters.get(counter.id)
    assert final.version == 2
    assert final.value == outcomes.index(True) + 1
    assert len(await counters.history(counter.id)) == 2


async def test_g2_per_version_read_exactly_one_concurrent_writer_wins(db: Database) -> None:
    counters = Counters(db)
    counter = await counters.add(Counter(name="race"))

    async def bump() -> tuple[int, bool]:
        seen = await counters.get(counter.id)
        try:
            await counters.update(
                counter.id, {"value": seen.value + 1}, expected_version=seen.version
            )
        except VersionConflict:
            return seen.version, False
        return seen.version, True

    outcomes = await asyncio.gather(*(bump() for _ in range(TASKS)))

    read_versions = {version for version, _ in outcomes}
    winners = Tally(version for version, won in outcomes if won)
    assert winners == dict.fromkeys(read_versions, 1)
    final = await counters.get(counter.id)
    assert final.value == len(winners)
    assert final.version == 1 + len(winners)
    assert db.stats.version_conflicts == TASKS - len(winners)


async def _increment_with_retry(counters: Counters, counter_id: UUID) -> int:
    attempts = 0
    while True:
        attempts += 1
        seen = await counters.get(counter_id)
        try:
            await counters.update(
                counter_id, {"value": seen.value + 1}, expected_version=seen.version
            )
        except VersionConflict:
            await asyncio.sleep(0)
            continue
        return attempts


async def test_g2_no_update_is_lost_when_writers_retry_on_conflict(db: Database) -> None:
    counters = Counters(db)
    counter = await counters.add(Counter(name="total"))

    attempts = await asyncio.gather(
        *(_increment_with_retry(counters, counter.id) for _ in range(TASKS))
    )

    final = await counters.get(counter.id)
    assert final.value == TASKS
    assert final.version == TASKS + 1
    assert len(await counters.history(counter.id)) == TASKS + 1
    assert db.stats.version_conflicts == sum(attempts) - TASKS
