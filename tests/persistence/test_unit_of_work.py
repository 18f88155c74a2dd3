"""G3: everything a unit of work writes — rows, audit entries, events — commits together or not."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from persistence_models import (
    Categories,
    Category,
    ProductPriced,
    Products,
    new_product,
)
from sqlalchemy import func, select

from lamina.domain import AlreadyExists, EventPriority, use_context, uuid7
from lamina.persistence import Database, PoolOptions, UnitOfWork, count_queries
from lamina.persistence.tables import audit_log, events


class Boom(Exception):
    """An error raised by a use case after it wrote."""


async def _counts(db: Database) -> dict[str, int | None]:
    async with db.engine.connect() as conn:
        return {
            "products": await conn.scalar(select(func.count()).select_from(Products.table())),
            "categories": await conn.scalar(select(func.count()).select_from(Categories.table())),
            "audit": await conn.scalar(select(func.count()).select_from(audit_log)),
            "events": await conn.scalar(select(func.count()).select_from(events)),
        }


async def _events(db: Database) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(events).order_by(events.c.position))
        return [dict(r._mapping) for r in rows]


async def test_g3_a_unit_of_work_commits_rows_audit_entries_and_events_together(
    db: Database,
) -> None:
    actor = uuid7()
    with use_context(actor_id=actor, correlation_id="req-42"):
        async with db.unit_of_work() as uow:
            category = await Categories(uow).add(Category(name="books"))
            product = await Products(uow).add(new_product(category_id=category.id))
            uow.publish(ProductPriced(product_id=product.id, amount=Decimal("9.99")))
            assert uow.pending_events == [
                ProductPriced(product_id=product.id, amount=Decimal("9.99"))
            ]

    assert await _counts(db) == {"products": 1, "categories": 1, "audit": 2, "events": 1}
    (event,) = await _events(db)
    assert event["event_type"] == "test.product_priced"
    assert event["stream_id"] == str(product.id)
    assert event["stream_version"] == 1
    assert event["payload"] == {"product_id": str(product.id), "amount": "9.99"}
    assert event["context"]["actor_id"] == str(actor)
    assert event["context"]["correlation_id"] == "req-42"
    assert event["priority"] == int(EventPriority.NORMAL)
    assert db.stats.events_appended == 1


async def test_a_write_with_an_audit_entry_and_an_event_costs_five_statements(
    db: Database,
) -> None:
    """BEGIN, the INSERT, the audit entry (with the append lock), the event, COMMIT."""
    with count_queries() as tally:
        async with db.unit_of_work() as uow:
            product = await Products(uow).add(new_product())
            uow.publish(ProductPriced(product_id=product.id, amount=Decimal("9.99")))
    # SQLite sends BEGIN with the INSERT, and the audit entry, event and COMMIT in one hop.
    assert tally.queries == (5 if db.dialect_name == "postgresql" else 4)
    assert await _counts(db) == {"products": 1, "categories": 0, "audit": 1, "events": 1}


@pytest.mark.parametrize("failure", ["use case error", "domain error"])
async def test_g3_a_unit_of_work_that_raises_leaves_nothing_behind(
    db: Database, failure: str
) -> None:
    existing = await Categories(db).add(Category(name="taken"))
    before = await _counts(db)
    committed: list[int] = []
    db.on_events_committed(committed.append)

    async def use_case() -> None:
        async with db.unit_of_work() as uow:
            products = Products(uow)
            product = await products.add(new_product())
            await products.update(product.id, {"rating": 4})
            await products.add_many([new_product(f"M{i}") for i in range(3)])
            await Categories(uow).update(existing.id, {"name": "renamed"})
            uow.publish(ProductPriced(product_id=product.id, amount=Decimal(1)))
            assert await products.count() == 4  # the unit of work reads its own writes
            if failure == "use case error":
                raise Boom
            await Categories(uow).add(Category(name="renamed"))

    with pytest.raises(Boom if failure == "use case error" else AlreadyExists):
        await use_case()

    assert await _counts(db) == before
    assert await _events(db) == []
    assert (await Categories(db).get(existing.id)).name == "taken"
    assert committed == []
    assert db.stats.rollbacks == 1


async def test_g3_uncommitted_writes_are_invisible_to_other_connections(db: Database) -> None:
    async with db.unit_of_work() as uow:
        product = await Products(uow).add(new_product())
        assert await Products(uow).get_or_none(product.id) is not None
        assert await Products(db).get_or_none(product.id) is None
    assert await Products(db).get_or_none(product.id) is not None


async def test_g3_events_are_appended_in_order_with_stream_versions(db: Database) -> None:
    product_id = uuid7()
    committed: list[int] = []
    db.on_events_committed(committed.append)
    for amount in (1, 2):
        async with db.unit_of_work() as uow:
            uow.publish(ProductPriced(product_id=product_id, amount=Decimal(amount)))
            uow.publish(
                ProductPriced(product_id=product_id, amount=Decimal(amount * 10)),
                priority=EventPriority.CRITICAL,
            )
    stored = await _events(db)
    assert [e["stream_version"] for e in stored] == [1, 2, 3, 4]
    assert [e["payload"]["amount"] for e in stored] == ["1", "10", "2", "20"]
    assert [e["priority"] for e in stored] == [1, 3, 1, 3]
    assert [e["position"] for e in stored] == sorted(e["position"] for e in stored)
    assert committed == [2, 2]


async def test_a_unit_of_work_takes_its_context_when_it_starts(db: Database) -> None:
    first, second = uuid7(), uuid7()
    with use_context(actor_id=first, correlation_id="one"):
        uow = db.unit_of_work()
        async with uow:
            with use_context(actor_id=second, correlation_id="two"):
                product = await Products(uow).add(new_product())
    assert uow.context.actor_id == first
    (entry,) = await Products(db).history(product.id)
    assert (entry.actor_id, entry.correlation_id) == (first, "one")
    assert product.created_by_id == first


async def test_publishing_outside_a_unit_of_work_is_refused(db: Database) -> None:
    uow = db.unit_of_work()
    with pytest.raises(RuntimeError):
        uow.publish(ProductPriced(product_id=uuid7(), amount=Decimal(1)))
    async with uow:
        pass
    with pytest.raises(RuntimeError):
        async with uow.connection():
            pass


async def test_a_read_only_unit_of_work_refuses_writes(db: Database) -> None:
    async with db.unit_of_work(read_only=True) as uow:
        assert await Products(uow).count() == 0
        with pytest.raises(RuntimeError):
            await Products(uow).add(new_product())


async def test_database_run_returns_the_result_of_the_use_case(db: Database) -> None:
    async def create(uow: UnitOfWork) -> str:
        product = await Products(uow).add(new_product("RUN"))
        uow.publish(ProductPriced(product_id=product.id, amount=Decimal(5)))
        return product.sku

    assert await db.run(create) == "RUN"
    assert await _counts(db) == {"products": 1, "categories": 0, "audit": 1, "events": 1}


async def test_database_run_does_not_retry_a_domain_error(db: Database) -> None:
    calls = 0

    async def duplicate(uow: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        await Products(uow).add(new_product("X"))
        await Products(uow).add(new_product("X"))

    with pytest.raises(AlreadyExists):
        await db.run(duplicate)
    assert calls == 1
    assert db.stats.retries == 0
    assert await _counts(db) == {"products": 0, "categories": 0, "audit": 0, "events": 0}


async def test_g3_a_cancelled_unit_of_work_leaves_nothing_and_frees_its_connection(
    db_url: str, db: Database
) -> None:
    single = Database(db_url, pool=PoolOptions(size=1, acquire_timeout=5))
    wrote = asyncio.Event()

    async def interrupted_request() -> None:
        async with single.unit_of_work() as uow:
            product = await Products(uow).add(new_product())
            uow.publish(ProductPriced(product_id=product.id, amount=Decimal(1)))
            wrote.set()
            await asyncio.sleep(60)  # the client goes away here

    task = asyncio.create_task(interrupted_request())
    try:
        await wrote.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _counts(db) == {"products": 0, "categories": 0, "audit": 0, "events": 0}
        await Products(single).add(new_product("NEXT"))  # the only connection came back
        assert await Products(single).count() == 1
    finally:
        await single.close()


async def test_units_serializing_on_one_key_run_one_after_another(db: Database) -> None:
    order: list[str] = []
    first_holds = asyncio.Event()

    async def first() -> None:
        async with db.unit_of_work() as uow:
            await uow.serialize("graph", 1)
            first_holds.set()
            await asyncio.sleep(0.3)
            order.append("first ends")

    async def second(key: object) -> None:
        await first_holds.wait()
        async with db.unit_of_work() as uow:
            await uow.serialize("graph", key)
            order.append(f"second on {key}")

    await asyncio.gather(first(), second(1))
    assert order == ["first ends", "second on 1"]
    if db.dialect_name == "postgresql":  # another key does not wait (SQLite: one writer anyway)
        order.clear()
        first_holds.clear()
        await asyncio.gather(first(), second(2))
        assert order == ["second on 2", "first ends"]
    async with db.unit_of_work(read_only=True) as reader:
        with pytest.raises(RuntimeError, match="read-only"):
            await reader.serialize("graph", 1)


async def test_calls_gathered_in_one_unit_take_turns_on_its_connection(db: Database) -> None:
    async with db.unit_of_work() as uow:
        repo = Products(uow)
        made = await asyncio.gather(*(repo.add(new_product(f"G{i}")) for i in range(6)))
        found = await asyncio.gather(*(repo.get(p.id) for p in made))
        assert await repo.count() == 6
    assert [p.id for p in found] == [p.id for p in made]
    assert (await _counts(db))["products"] == 6
