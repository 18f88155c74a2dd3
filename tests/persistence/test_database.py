"""The Database: connection settings, health checks, and retries of transient failures."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from persistence_models import Counter, Counters, Products, new_product

from lamina.domain import Unavailable
from lamina.persistence import (
    ConnectionLost,
    Database,
    PoolOptions,
    RetryPolicy,
    UnitOfWork,
    sqlite_checkpoints,
)
from lamina.persistence.sqlite_checkpoints import FALLBACK_PAGES, unchecked_wal_bytes

CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/nothing"
"""Nothing listens on port 1: connecting fails at once."""

QUICK_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


async def test_ping_answers_on_a_running_database(db: Database) -> None:
    await db.ping()
    assert db.dialect_name in ("sqlite", "postgresql")


async def test_a_borrowed_connection_is_lent_again_unless_it_was_lost(db: Database) -> None:
    conn = await db.acquire()
    in_use = db.pool_usage()
    await db.release(conn)
    assert db.pool_usage().in_use == in_use.in_use - 1

    again = await db.acquire()
    assert again is conn
    assert [tuple(row) for row in await again.fetch("SELECT 1", [])] == [(1,)]
    await db.release(again, failed=ConnectionResetError("the server went away"))

    after = db.pool_usage()
    assert (after.open, after.in_use) == (in_use.open - 1, in_use.in_use - 1)
    fresh = await db.acquire()
    assert fresh is not conn
    await db.release(fresh)


async def test_ping_of_an_unreachable_database_raises_unavailable_quickly() -> None:
    db = Database(CLOSED_PORT_URL, pool=PoolOptions(acquire_timeout=2))
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable) as caught:
            await db.ping()
        assert isinstance(caught.value, ConnectionLost)
        with pytest.raises(Unavailable):
            await Products(db).count()
    finally:
        await db.close()
    assert time.monotonic() - started < 5


async def test_run_retries_a_lost_connection_then_gives_up_with_unavailable() -> None:
    db = Database(CLOSED_PORT_URL, retry=QUICK_RETRY, pool=PoolOptions(acquire_timeout=2))
    calls = 0

    async def use_case(uow: UnitOfWork) -> None:
        nonlocal calls
        calls += 1

    started = time.monotonic()
    try:
        with pytest.raises(ConnectionLost):
            await db.run(use_case)
    finally:
        await db.close()
    assert calls == 0  # no transaction could even start
    assert db.stats.retries == QUICK_RETRY.attempts - 1
    assert time.monotonic() - started < 5


async def test_run_retries_a_transient_failure_until_it_succeeds(db: Database, db_url: str) -> None:
    counter = await Counters(db).add(Counter(name="retried"))
    if db.dialect_name == "sqlite":
        attempts = await _retry_while_sqlite_is_locked(db_url, counter.id)
    else:
        attempts = await _retry_after_a_serialization_failure(db, counter.id)
    assert attempts >= 2
    final = await Counters(db).get(counter.id)
    assert final.value == final.version - 1  # every committed attempt counted once
    assert len(await Counters(db).history(counter.id)) == final.version


async def _increment(uow: UnitOfWork, counter_id: object) -> None:
    counters = Counters(uow)
    current = await counters.get(counter_id)  # type: ignore[arg-type]
    await counters.update(
        current.id, {"value": current.value + 1}, expected_version=current.version
    )


async def _retry_while_sqlite_is_locked(db_url: str, counter_id: object) -> int:
    """Another process-like writer holds the write lock for a while: the unit of work retries."""
    path = db_url.split("///", 1)[1]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    busy = Database(
        db_url,
        pool=PoolOptions(busy_timeout_ms=20),
        retry=RetryPolicy(attempts=50, base_delay=0.02, max_delay=0.05),
    )
    attempts = 0

    async def use_case(uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        await _increment(uow, counter_id)

    asyncio.get_running_loop().call_later(0.3, holder.rollback)
    try:
        await busy.run(use_case)
    finally:
        holder.close()
        await busy.close()
    assert busy.stats.retries == attempts - 1
    return attempts


async def _retry_after_a_serialization_failure(db: Database, counter_id: object) -> int:
    """Two SERIALIZABLE transactions update the same row: the second is retried and succeeds."""
    first_read, second_read, first_committed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    attempts = {"first": 0, "second": 0}

    def use_case(name: str) -> object:
        async def run(uow: UnitOfWork) -> None:
            attempts[name] += 1
            async with uow.connection() as conn:
                await conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", [])
            counters = Counters(uow)
            current = await counters.get(counter_id)  # type: ignore[arg-type]
            if name == "first":
                first_read.set()
                await second_read.wait()
            elif attempts[name] == 1:
                second_read.set()
                await first_committed.wait()
            await counters.update(current.id, {"value": current.value + 1})

        return run

    async def first() -> None:
        await db.run(use_case("first"))  # type: ignore[arg-type]
        first_committed.set()

    await asyncio.wait_for(
        asyncio.gather(first(), db.run(use_case("second"))),  # type: ignore[arg-type]
        timeout=20,
    )
    assert attempts == {"first": 1, "second": 2}
    assert db.stats.retries == 1
    assert (await Counters(db).get(counter_id)).value == 2  # type: ignore[arg-type]
    return attempts["second"]


async def test_run_gives_up_with_unavailable_when_sqlite_stays_locked(
    db: Database, db_url: str
) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("holds an SQLite write lock")
    path = db_url.split("///", 1)[1]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    busy = Database(db_url, pool=PoolOptions(busy_timeout_ms=10), retry=QUICK_RETRY)

    async def use_case(uow: UnitOfWork) -> None:
        await Products(uow).add(new_product())

    try:
        with pytest.raises(Unavailable, match="busy"):
            await busy.run(use_case)
    finally:
        holder.rollback()
        holder.close()
        await busy.close()
    assert busy.stats.retries == QUICK_RETRY.attempts - 1
    assert await Products(db).count() == 0


async def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(db: Database) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite settings")
    async with db.connection() as conn:
        assert (await conn.fetch("PRAGMA journal_mode", []))[0][0] == "wal"
        assert (await conn.fetch("PRAGMA foreign_keys", []))[0][0] == 1
        # A read of its own runs on the caller's thread, where SQLite never waits for a lock
        assert (await conn.fetch("PRAGMA busy_timeout", []))[0][0] == 0
    async with db.unit_of_work() as uow, uow.connection() as conn:  # in the connection's thread
        assert (await conn.fetch("PRAGMA busy_timeout", []))[0][0] == 5000


def _sqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("lamina-sqlite")}


async def test_sqlite_connections_run_in_threads_that_end_when_the_database_closes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite threads")
    monkeypatch.setattr(db._pool, "inline_budget", 0)  # every call in a connection's thread
    before = _sqlite_threads()
    products = Products(db)
    await asyncio.gather(*(products.add(new_product(f"P{i}")) for i in range(4)))
    # A read cancelled while it waits leaves its connection usable.
    reading = asyncio.create_task(products.count())
    await asyncio.sleep(0)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert await products.count() == 4
    opened = _sqlite_threads() - before
    assert 1 <= len(opened) <= db.pool_options.size
    await db.close()
    for thread in opened:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in opened)


SMALL_CHECKPOINTS = 64 * 1024
"""The checkpoint threshold of the WAL tests: small, so that a few batches cross it."""


@pytest.fixture
def wal(db: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    """The path of the SQLite test database's WAL file, checkpointed every 64 KB."""
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    monkeypatch.setattr(sqlite_checkpoints, "CHECKPOINT_BYTES", SMALL_CHECKPOINTS)
    return f"{db.url.database}-wal"


async def test_sqlite_checkpoints_the_wal_in_the_background_and_keeps_it_small(
    db: Database, wal: str
) -> None:
    async with db.connection() as conn:  # SQLite's own checkpoint is only a distant fallback
        assert (await conn.fetch("PRAGMA wal_autocheckpoint", []))[0][0] == FALLBACK_PAGES
    products = Products(db)
    largest = 0
    for batch in range(40):
        await products.add_many([new_product(f"W{batch:02}-{i:03}") for i in range(100)])
        largest = max(largest, os.path.getsize(wal))  # noqa: ASYNC240 - a stat, in a test
    checkpointer = db._pool.checkpointer
    assert checkpointer.checkpoints > 0
    assert largest < 2 * 1024 * 1024  # without checkpoints: over 4 MB by now
    assert await products.count() == 4000
    await db.close()
    with sqlite3.connect(str(db.url.database)) as raw:  # everything reached the database file
        assert raw.execute("SELECT count(*) FROM t_products").fetchone() == (4000,)


def test_the_wal_index_tells_how_much_of_the_wal_awaits_a_checkpoint(tmp_path: Path) -> None:
    path = str(tmp_path / "wal.db")
    with sqlite3.connect(path, isolation_level=None) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA wal_autocheckpoint=0")
        raw.execute("CREATE TABLE t (x BLOB)")
        for _ in range(5):
            raw.execute("INSERT INTO t VALUES (randomblob(5000))")
        shm = os.open(f"{path}-shm", os.O_RDONLY)
        try:
            waiting = unchecked_wal_bytes(shm)
            _, logged, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert waiting == logged * (4096 + 24) > 0
            assert copied == logged
            assert unchecked_wal_bytes(shm) == 0
        finally:
            os.close(shm)


async def test_sqlite_starts_the_wal_over_while_writes_never_pause(db: Database, wal: str) -> None:
    # Back-to-back commits: a background checkpoint never finds the WAL without new
    # frames, so unless a writer finishes its work the log would only ever grow.
    products = Products(db)
    largest = 0
    for i in range(600):
        await products.add(new_product(f"S{i:03}"))
        largest = max(largest, os.path.getsize(wal))  # noqa: ASYNC240 - a stat, in a test
    assert db._pool.checkpointer.checkpoints > 0
    # 600 commits of about 4 pages: 10 MB if it never started over; a few checkpoints' worth
    assert largest < 48 * SMALL_CHECKPOINTS
    assert await products.count() == 600


_HOLDS_DMS_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)  # SQLite's "dead man switch" byte
except OSError:
    print("held")
else:
    print("free")
"""


async def test_sqlite_a_database_closed_leaves_the_locks_of_another_on_the_same_file(
    db: Database, wal: str
) -> None:
    # Closing a descriptor drops all the process's POSIX locks on the file: were the
    # wal-index closed with the second Database, another process would take itself for
    # the first on the file and truncate the wal-index under the first Database.
    await Products(db).add(new_product("FIRST"))  # its checkpointer reads the wal-index
    async with Database(str(db.url)) as second:
        await Products(second).add(new_product("SECOND"))
    shm = f"{db.url.database}-shm"
    probe = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _HOLDS_DMS_LOCK, shm],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "held"
    assert await Products(db).count() == 2


async def test_sqlite_checkpoints_never_hold_the_write_lock(db: Database, wal: str) -> None:
    # A writer that found the lock taken would sleep in SQLite's busy handler (1, 2, 5 ms…).
    products = Products(db)
    checkpointer = db._pool.checkpointer
    with sqlite3.connect(str(db.url.database), isolation_level=None) as other:
        other.execute("PRAGMA busy_timeout=0")  # fail at once instead of waiting
        for batch in range(10):
            await products.add_many([new_product(f"L{batch}-{i:03}") for i in range(200)])
            deadline = time.monotonic() + 5
            while checkpointer._queued and time.monotonic() < deadline:  # queued or running
                other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if held
                other.execute("ROLLBACK")
                await asyncio.sleep(0)
    assert checkpointer.checkpoints >= 5
    assert await products.count() == 2000


async def test_sqlite_checkpoints_do_not_follow_every_commit_while_a_reader_pins_the_wal(
    db: Database, wal: str
) -> None:
    products = Products(db)
    await products.add_many([new_product(f"A{i:03}") for i in range(300)])
    with sqlite3.connect(str(db.url.database)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t_products").fetchone()  # holds its snapshot
        await products.add_many([new_product(f"B{i:03}") for i in range(300)])
        checkpointer = db._pool.checkpointer
        for _ in range(100):
            await asyncio.sleep(0.01)
            if not checkpointer._queued:
                break
        before, wal_before = checkpointer.checkpoints, os.path.getsize(wal)  # noqa: ASYNC240
        for i in range(60):  # small commits, each growing the WAL the reader pins a little
            await products.add(new_product(f"C{i:03}"))
        grown = os.path.getsize(wal) - wal_before  # noqa: ASYNC240
        # One checkpoint per CHECKPOINT_BYTES of growth, not one per commit.
        assert checkpointer.checkpoints - before <= grown // SMALL_CHECKPOINTS + 2 < 60 // 2
        reader.rollback()
    assert await products.count() == 660


async def test_a_sqlite_connection_used_after_its_database_closed_raises_at_once(
    db: Database,
) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's connection threads")
    async with db.connection() as conn:
        await db.close()  # with a connection still in use
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            await asyncio.wait_for(conn.fetch("SELECT 1", []), 5)
    assert await Products(db).count() == 0  # a new connection works


async def test_a_unit_of_work_cancelled_while_its_commit_writes_leaves_nothing(
    db: Database,
) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's commit runs its batches in the connection's thread")
    loop = asyncio.get_running_loop()
    auditing = asyncio.Event()

    def slow_audit_batch(statement: str) -> None:  # runs in the connection's thread
        if "lamina_audit_log" in statement and not auditing.is_set():
            loop.call_soon_threadsafe(auditing.set)
            time.sleep(0.2)  # the batch is still being written when the cancellation comes

    async def write() -> None:
        async with db.unit_of_work() as uow:
            async with uow.connection() as conn:
                conn.raw.set_trace_callback(slow_audit_batch)
            await Products(uow).add_many([new_product(f"P{i}") for i in range(3)])

    task = asyncio.create_task(write())
    await asyncio.wait_for(auditing.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db.connection() as conn:
        conn.raw.set_trace_callback(None)
        assert (await conn.fetch("SELECT count(*) FROM lamina_audit_log", []))[0][0] == 0
    assert await Products(db).count() == 0  # rolled back, not committed after all
    await Products(db).add(new_product("AFTER"))
    assert await Products(db).count() == 1


async def test_a_closed_database_can_be_used_again(db: Database) -> None:
    await Products(db).add(new_product())
    await db.close()
    assert await Products(db).count() == 1
    async with Database(str(db.url.render_as_string(hide_password=False))) as again:
        assert await Products(again).count() == 1


def test_urls_are_normalized_to_the_async_drivers(tmp_path: Path) -> None:
    assert Database("postgresql://u@h/d").url.drivername == "postgresql+asyncpg"
    assert Database("postgresql+psycopg://u@h/d").url.drivername == "postgresql+asyncpg"
    assert Database(f"sqlite:///{tmp_path / 'a.db'}").url.drivername == "sqlite+aiosqlite"
    assert Database(f"sqlite:///{tmp_path / 'a.db'}").dialect_name == "sqlite"
    for bad in ("sqlite://", "sqlite:///:memory:", "mysql://u@h/d"):
        with pytest.raises(ValueError, match=r"SQLite file|unsupported"):
            Database(bad)
    assert "secret" not in repr(Database("postgresql://u:secret@h/d"))


def test_the_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAMINA_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert Database().url.database == str(tmp_path / "env.db")
    monkeypatch.delenv("LAMINA_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    assert Database().url.database == "./lamina.db"
