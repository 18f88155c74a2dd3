"""G15: concurrent use cases on the same rows all complete, and no one waits unboundedly.

The shape that used to deadlock on PostgreSQL: each unit of work inserts a child
row (its foreign key takes a KEY SHARE lock on the parent) and then updates the
parent. On PostgreSQL the tests hold every unit at a barrier once its child is
inserted, so all of them hold their KEY SHARE locks when the parent updates
start: the worst interleaving, every time. SQLite serializes write transactions,
so there the units simply queue.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest
from persistence_models import Post, Posted, Posts, Price, Products, Topic, Topics, new_product

from lamina.domain import NotFound, Unavailable, utcnow
from lamina.events import EventStore
from lamina.persistence import Database, PoolOptions, RetryPolicy, UnitOfWork
from lamina.persistence.sqlite_driver import WriterQueue

WRITERS = 8
BOUND = 5.0
"""Seconds within which every writer must be done (each takes milliseconds alone)."""


def _raw_dsn(db: Database) -> str:
    return db.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _all_at_once(db: Database, write_parent: str) -> tuple[Topic, float]:
    """``WRITERS`` units of work, each adding a post and then writing its topic."""
    topics = Topics(db)
    topic = await topics.add(Topic(title="hot"))
    together = asyncio.Barrier(WRITERS) if db.dialect_name == "postgresql" else None

    async def post(n: int) -> None:
        attempts = 0

        async def use_case(uow: UnitOfWork) -> None:
            nonlocal attempts
            attempts += 1
            stored = await Posts(uow).add(Post(topic_id=topic.id, body=f"post {n}"))
            if together is not None and attempts == 1:
                await together.wait()
            if write_parent == "update":
                await Topics(uow).update(topic.id, {"posts": n})
            elif write_parent == "update naming its unique title":
                await Topics(uow).update(topic.id, {"posts": n, "title": "hot"})
            else:
                await Topics(uow).touch(topic.id, "last_post_at", stored.created_at)
            uow.publish(Posted(topic_id=topic.id, post_id=stored.id))

        await db.run(use_case)

    started = time.monotonic()
    async with asyncio.timeout(BOUND * 2):
        await asyncio.gather(*(post(n) for n in range(1, WRITERS + 1)))
    return topic, time.monotonic() - started


async def _check_nothing_lost(db: Database, topic: Topic) -> None:
    posts = await Posts(db).list(limit=100)
    assert sorted(p.body for p in posts) == sorted(f"post {n}" for n in range(1, WRITERS + 1))
    for post in posts:
        assert [e.action for e in await Posts(db).history(post.id)] == ["create"]
    events = await EventStore(db).read_stream(str(topic.id))
    assert [e.stream_version for e in events] == list(range(1, WRITERS + 1))
    assert {e.payload["post_id"] for e in events} == {str(p.id) for p in posts}


@pytest.mark.parametrize("change", ["update", "update naming its unique title"])
async def test_g15_children_inserted_then_their_parent_updated_all_complete(
    db: Database, change: str
) -> None:
    topic, elapsed = await _all_at_once(db, change)

    assert elapsed < BOUND
    assert db.stats.retries == 0  # no deadlock was broken: nobody had to run again
    final = await Topics(db).get(topic.id)
    assert final.version == 1 + WRITERS  # G2: every update took a version of its own
    history = await Topics(db).history(topic.id)
    assert [e.action for e in history] == ["create"] + ["update"] * WRITERS  # G4
    await _check_nothing_lost(db, topic)


async def test_g15_children_inserted_then_their_parent_touched_all_complete(
    db: Database,
) -> None:
    topic, elapsed = await _all_at_once(db, "touch")

    assert elapsed < BOUND
    assert db.stats.retries == 0
    final = await Topics(db).get(topic.id)
    latest = max(p.created_at for p in await Posts(db).list(limit=100))
    assert final.last_post_at == latest  # the marker only moves forward
    assert (final.version, final.updated_at) == (1, topic.updated_at)
    assert [e.action for e in await Topics(db).history(topic.id)] == ["create"]
    await _check_nothing_lost(db, topic)


@pytest.mark.postgres_only
async def test_g15_a_parent_update_does_not_wait_for_an_open_child_insert(
    db: Database,
) -> None:
    topic = await Topics(db).add(Topic(title="parent"))
    child_writer = await asyncpg.connect(_raw_dsn(db))
    try:
        async with child_writer.transaction():
            await child_writer.execute(
                "INSERT INTO t_posts (id, topic_id, body, created_at, updated_at, version)"
                " VALUES (gen_random_uuid(), $1, 'open', now(), now(), 1)",
                topic.id,
            )
            # A change that leaves the key columns as they are takes FOR NO KEY UPDATE: no
            # wait for the child, also when it names the unique title with its value.
            async with asyncio.timeout(BOUND):
                changed = await Topics(db).update(topic.id, {"posts": 1})
                saved = await Topics(db).save(changed.evolve(posts=2))
            assert (changed.version, saved.version) == (2, 3)
            # A change of a key column (title is unique) must wait for the child's lock.
            renaming = asyncio.create_task(Topics(db).update(topic.id, {"title": "renamed"}))
            await asyncio.sleep(0.3)
            assert not renaming.done()
        async with asyncio.timeout(BOUND):
            renamed = await renaming
        assert (renamed.title, renamed.version) == ("renamed", 4)
    finally:
        await child_writer.close()


async def _hold_the_topic(db: Database, topic: Topic) -> tuple[object, object]:
    """Another client that holds ``topic``'s row (PostgreSQL) or the write lock (SQLite)."""
    if db.dialect_name == "postgresql":
        holder = await asyncpg.connect(_raw_dsn(db))
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM t_topics WHERE id = $1 FOR UPDATE", topic.id)
        return holder, holder.close
    path = str(db.url.database)
    sqlite_holder = sqlite3.connect(path, isolation_level=None)
    sqlite_holder.execute("BEGIN IMMEDIATE")

    async def release() -> None:
        sqlite_holder.rollback()
        sqlite_holder.close()

    return sqlite_holder, release


async def test_g15_a_unit_that_cannot_get_its_lock_fails_promptly(
    db: Database, db_url: str
) -> None:
    topic = await Topics(db).add(Topic(title="held"))
    impatient = Database(
        db_url,
        pool=PoolOptions(lock_timeout=0.2, busy_timeout_ms=200),
        retry=RetryPolicy(attempts=1000, base_delay=0.05, max_delay=0.1, deadline=1.0),
    )
    _, release = await _hold_the_topic(db, topic)
    try:

        async def use_case(uow: UnitOfWork) -> None:
            await Topics(uow).update(topic.id, {"posts": 1})

        started = time.monotonic()
        with pytest.raises(Unavailable) as caught:
            await impatient.run(use_case)
        waited = time.monotonic() - started
    finally:
        await release()  # type: ignore[operator]
        await impatient.close()
    # The deadline ended it: no attempt starts after it, so it ends around then.
    assert 0.5 <= waited < 1.0 + BOUND / 2
    assert caught.value.retry_after >= 1
    assert 1 <= impatient.stats.retries < 1000
    assert (await Topics(db).get(topic.id)).version == 1  # nothing was written


async def test_g15_the_marker_of_a_late_commit_does_not_move_back(db: Database) -> None:
    topics = Topics(db)
    topic = await topics.add(Topic(title="ordered"))
    later, earlier = utcnow(), utcnow() - timedelta(seconds=5)
    assert await topics.touch(topic.id, "last_post_at", later)
    assert not await topics.touch(topic.id, "last_post_at", earlier)
    assert (await topics.get(topic.id)).last_post_at == later


async def test_g15_sqlite_writers_of_one_process_go_in_first_come_first_served(
    db: Database,
) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's single writer")
    topic = await Topics(db).add(Topic(title="queue"))
    held = [await db.acquire() for _ in range(WRITERS)]  # open the connections
    for conn in held:
        await db.release(conn)
    entered: list[int] = []

    async def writer(n: int) -> None:
        async with db.unit_of_work() as uow:
            entered.append(n)
            await Posts(uow).add(Post(topic_id=topic.id, body=f"post {n}"))
            await asyncio.sleep(0.01)  # hold the write lock while the others queue

    tasks = []
    for n in range(WRITERS):
        tasks.append(asyncio.create_task(writer(n)))
        await asyncio.sleep(0)  # each starts waiting before the next
    await asyncio.gather(*tasks)
    assert entered == list(range(WRITERS))
    assert await Posts(db).count() == WRITERS


async def test_g15_an_sqlite_writer_waits_no_longer_than_the_busy_timeout(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer")
    db = Database(db_url, pool=PoolOptions(busy_timeout_ms=100))
    try:
        await db.create_all(Topics.table().metadata)
        holding = asyncio.Event()

        async def holder() -> None:
            async with db.unit_of_work() as uow:
                await Topics(uow).add(Topic(title="held"))
                holding.set()
                await asyncio.sleep(1)

        held = asyncio.create_task(holder())
        await holding.wait()
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            async with db.unit_of_work() as uow:
                await Topics(uow).add(Topic(title="waiting"))
        assert time.monotonic() - started < 0.5
        await held
    finally:
        await db.close()


async def test_a_parent_held_for_share_is_deleted_only_after_its_child_is_added(
    db: Database,
) -> None:
    """Checking a parent, then adding a child: the parent cannot be deleted in between."""
    topic = await Topics(db).add(Topic(title="parent"))
    held, release = asyncio.Event(), asyncio.Event()

    async def add_a_post() -> None:
        async with db.unit_of_work() as uow:
            await Topics(uow).get(topic.id, for_share=True)
            await Posts(uow).add(Post(topic_id=topic.id, body="just in time"))
            held.set()
            await release.wait()

    adding = asyncio.create_task(add_a_post())
    await held.wait()
    deleting = asyncio.create_task(Topics(db).delete(topic.id))
    await asyncio.sleep(0.3)
    assert not deleting.done()  # the delete waits for the unit holding the parent
    release.set()
    await adding
    await deleting
    async with db.unit_of_work() as uow:
        with pytest.raises(NotFound):  # a check after the delete sees it deleted
            await Topics(uow).get(topic.id, for_share=True)
    with pytest.raises(TypeError, match="unit of work"):
        await Topics(db).get(topic.id, for_share=True)


async def test_g15_an_sqlite_writer_arriving_as_the_lock_is_handed_over_waits_bounded() -> None:
    writers = WriterQueue(timeout=0.05)
    await writers.enter()
    queued = asyncio.create_task(writers.enter())
    await asyncio.sleep(0)  # queued behind the first writer
    writers.leave()  # handed to the queued writer, which has not run yet
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        async with asyncio.timeout(5):  # in this task: before the queued writer runs
            await writers.enter()  # behind it, and no longer than the busy timeout
    await queued
    writers.leave()
    async with asyncio.timeout(5):
        await writers.enter()  # free again: let in at once


async def test_g15_concurrent_changes_without_a_version_all_land(db: Database) -> None:
    """A change needing the row read first (a value object), without ``expected_version``,
    under contention: each waits its turn, none fails with a conflict nobody asked about."""
    products = Products(db)
    stored = await products.add(new_product("HOT"))

    async def reprice(n: int) -> None:
        price = Price(amount=Decimal(n + 1), currency="EUR")
        await products.update(stored.id, {"price": price, "name": f"n{n}"})

    await asyncio.gather(*(reprice(n) for n in range(20)))
    assert (await products.get(stored.id)).version == 21
    assert len(await products.history(stored.id)) == 21
