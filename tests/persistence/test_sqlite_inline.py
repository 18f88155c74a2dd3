"""SQLite: a read of its own, or a whole small write transaction, runs on the caller's thread.

A hop to an SQLite connection's thread costs more than most such statements
(a get by id takes a few microseconds in SQLite). So they run where they are
called, within ``PoolOptions.inline_budget``; SQLite stops one that runs
longer, or that would wait for a lock another connection holds, and the
connection's thread runs it instead, from its start: the event loop is never
held longer than the budget, nothing is written twice and no call waits on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable
from typing import Any

import pytest
from persistence_models import Products, new_product

from lamina.persistence import Database, sqlite_driver

COUNT_TO = 3_000_000
SLOW_READ = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
    "SELECT count(*) FROM n"
)
"""A read that takes SQLite well over a hundred milliseconds."""


@pytest.fixture
def sqlite_db(db: Database) -> Database:
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's connection threads")
    return db


async def _longest_pause(call: Awaitable[Any]) -> tuple[Any, float]:
    """``call``'s result, and the longest the event loop went without running a ticker
    meanwhile (seconds)."""
    longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.005)  # ticking
    try:
        return await call, longest
    finally:
        done = True
        await ticker


def _threads_of_statements(db: Database) -> list[int]:
    """Each statement the pool's open connections run, as the thread that runs it."""
    seen: list[int] = []
    for conn in db._pool._all:
        conn.raw.set_trace_callback(lambda _sql: seen.append(threading.get_ident()))
    return seen


async def test_sqlite_reads_and_small_writes_of_their_own_run_on_the_callers_thread(
    sqlite_db: Database,
) -> None:
    products = Products(sqlite_db)
    stored = await products.add(new_product())
    seen = _threads_of_statements(sqlite_db)
    here = threading.get_ident()

    assert await products.get(stored.id) == stored
    updated = await products.update(stored.id, {"name": "renamed"}, expected_version=1)
    assert set(seen) == {here}

    seen.clear()
    async with sqlite_db.unit_of_work() as uow:  # a transaction of several calls: its thread
        await Products(uow).update(stored.id, {"name": "again"}, expected_version=2)
    assert seen
    assert here not in seen
    assert updated.name == "renamed"
    assert [e.action for e in await products.history(stored.id)] == ["create", "update", "update"]


async def test_sqlite_a_read_past_the_budget_finishes_in_the_connections_thread(
    sqlite_db: Database,
) -> None:
    async def count() -> int:
        async with sqlite_db.connection() as conn:
            return int((await conn.fetch(SLOW_READ, [COUNT_TO]))[0][0])

    counted, paused = await _longest_pause(count())
    assert counted == COUNT_TO
    assert paused < 0.05  # stopped after its half millisecond, then run in the thread
    # The next calls go straight to the thread; after them, it is tried inline again
    assert sqlite_db._pool.slow_statements == {SLOW_READ: sqlite_driver.SLOW_SKIPS}
    counted, paused = await _longest_pause(count())
    assert (counted, paused < 0.05) == (COUNT_TO, True)
    assert sqlite_db._pool.slow_statements == {SLOW_READ: sqlite_driver.SLOW_SKIPS - 1}


async def test_sqlite_a_write_never_waits_for_a_lock_on_the_callers_thread(
    sqlite_db: Database,
) -> None:
    products = Products(sqlite_db)
    await products.add(new_product("FIRST"))
    other = sqlite3.connect(str(sqlite_db.url.database), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock

        async def release_soon() -> None:
            await asyncio.sleep(0.3)
            other.execute("ROLLBACK")

        releasing = asyncio.create_task(release_soon())
        started = time.monotonic()
        added, paused = await _longest_pause(products.add(new_product("WAITED")))
        await releasing
    finally:
        other.close()
    assert time.monotonic() - started >= 0.25  # it waited for the lock, in the thread
    assert paused < 0.05  # and the event loop went on meanwhile
    assert await products.get(added.id) == added
    assert [e.action for e in await products.history(added.id)] == ["create"]
    assert await products.count() == 2


async def test_sqlite_a_write_stopped_on_the_callers_thread_is_written_once(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every call tried inline is stopped at its first step, then run in the thread.
    monkeypatch.setattr(sqlite_driver, "_PROGRESS_STEPS", 1)
    monkeypatch.setattr(sqlite_db._pool, "inline_budget", 1e-9)
    products = Products(sqlite_db)
    stored = await products.add(new_product())
    updated = await products.update(stored.id, {"name": "renamed"}, expected_version=1)
    assert (updated.version, updated.name) == (2, "renamed")
    assert await products.get(stored.id) == updated
    assert [e.action for e in await products.history(stored.id)] == ["create", "update"]
    assert await products.count() == 1
