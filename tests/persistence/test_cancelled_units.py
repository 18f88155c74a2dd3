"""A unit of work cancelled at any point, or a use case that carries on after a failed write,
never leaves a connection in a transaction for someone else, never loses a write that
returned, and never reports success for what was not committed (G3), on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import random

import pytest
from persistence_models import Categories, Category, Products, new_product

from lamina.domain import AlreadyExists
from lamina.persistence import Database, PoolOptions, TransactionAborted, UnitOfWork


async def test_g3_cancelled_units_leave_no_transaction_behind_and_lose_no_acknowledged_write(
    db: Database,
) -> None:
    small = Database(db.url, secret_key="tests", pool=PoolOptions(size=2))
    products = Products(small)
    random.seed(7)
    acknowledged: list[object] = []
    pairs: list[tuple[str, str]] = []

    async def standalone(n: int) -> None:
        acknowledged.append((await products.add(new_product(f"S-{n}"))).id)

    async def unit(n: int) -> None:
        pairs.append((f"A-{n}", f"B-{n}"))
        async with small.unit_of_work() as uow:
            await Products(uow).add(new_product(f"A-{n}"))
            await asyncio.sleep(0)
            await Products(uow).add(new_product(f"B-{n}"))

    try:
        for n in range(120):
            tasks = [asyncio.create_task(standalone(n)), asyncio.create_task(unit(n))]
            await asyncio.sleep(random.random() * 0.003)
            for task in tasks:
                if random.random() < 0.7:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        stored = {p.sku for p in await Products(db).list(limit=1000)}
        ids = {p.id for p in await Products(db).list(limit=1000)}
        assert all(a in ids for a in acknowledged)  # every write that returned is there
        assert all((a in stored) == (b in stored) for a, b in pairs)  # units: all or nothing
        after = await asyncio.wait_for(products.add(new_product("AFTER")), 5)
        assert (await Products(db).get(after.id)).sku == "AFTER"  # no lock left behind
    finally:
        await small.close()


async def test_g3_a_use_case_carrying_on_after_a_failed_write(db: Database) -> None:
    await Categories(db).add(Category(name="taken"))

    async def carries_on(uow: UnitOfWork) -> str:
        await Products(uow).add(new_product("KEPT"))
        with pytest.raises(AlreadyExists):
            await Categories(uow).add(Category(name="taken"))
        return "done"

    if db.dialect_name == "postgresql":  # the database aborted the transaction: it says so
        with pytest.raises(TransactionAborted):
            await db.run(carries_on)
        assert await Products(db).count() == 0
    else:  # SQLite keeps the transaction: the other write commits
        assert await db.run(carries_on) == "done"
        assert await Products(db).count() == 1
