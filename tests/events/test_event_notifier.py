"""Wake-ups: in-process commits, PostgreSQL NOTIFY across connections (with reconnect), polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from events_testkit import Tick, eventually

from lamina.events import EventFeed, EventNotifier, StoredEvent
from lamina.events.notifier import LISTENER_APPLICATION_NAME
from lamina.persistence import Database


async def publish(db: Database, n: int = 1) -> None:
    async with db.unit_of_work() as uow:
        uow.publish(Tick(channel="c", n=n))


async def woken_within(notifier: EventNotifier, action: object, max_wait: float) -> float:
    seen = notifier.generation
    started = time.monotonic()
    await action  # type: ignore[misc]
    await notifier.wait(seen, max_wait)
    assert notifier.generation != seen, "not woken"
    return time.monotonic() - started


async def test_a_commit_in_this_process_wakes_waiters(db: Database) -> None:
    async with EventNotifier(db, listen=False) as notifier:
        seen = notifier.generation
        waiter = asyncio.create_task(notifier.wait(seen, 5.0))
        await asyncio.sleep(0.01)
        started = time.monotonic()
        await publish(db)
        assert await waiter != seen
        assert time.monotonic() - started < 0.5


async def test_a_signal_between_read_and_wait_is_not_lost(db: Database) -> None:
    async with EventNotifier(db, listen=False) as notifier:
        seen = notifier.generation
        await publish(db)  # arrives before the reader starts waiting
        started = time.monotonic()
        assert await notifier.wait(seen, 5.0) != seen
        assert time.monotonic() - started < 0.1


async def test_polling_finds_events_appended_elsewhere(db: Database) -> None:
    """Without any notification (another process on SQLite), the feed polls."""
    other = Database(db.url.render_as_string(hide_password=False))
    got: list[int] = []

    def collect(batch: Sequence[StoredEvent]) -> None:
        got.extend(e.payload["n"] for e in batch)

    feed = EventFeed(db, notifier=EventNotifier(db, listen=False), poll_interval=0.05)
    feed.subscribe(collect)
    await feed.start()
    try:
        await publish(other, 7)
        await eventually(lambda: got == [7], 3)
    finally:
        await feed.stop()
        await feed.notifier.stop()
        await other.close()


@pytest.mark.postgres_only
async def test_notify_wakes_listeners_of_other_connections(db: Database) -> None:
    other = Database(db.url.render_as_string(hide_password=False))
    try:
        async with EventNotifier(db, keepalive=0.5) as notifier:
            await notifier.wait_until_listening()
            latency = await woken_within(notifier, publish(other), 2.0)
            assert latency < 0.2
        async with EventNotifier(db, listen=False) as deaf:
            seen = deaf.generation
            await publish(other)
            assert await deaf.wait(seen, 0.3) == seen  # control: no NOTIFY, no wake-up
    finally:
        await other.close()


@pytest.mark.postgres_only
async def test_the_listener_reconnects_after_its_connection_is_killed(db: Database) -> None:
    other = Database(db.url.render_as_string(hide_password=False))
    try:
        async with EventNotifier(db, reconnect_delay=0.05, keepalive=0.5) as notifier:
            await notifier.wait_until_listening()
            async with other.connection() as conn:
                killed = await conn.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = $1 AND datname = current_database()",
                    [LISTENER_APPLICATION_NAME],
                )
            assert len(killed) == 1
            await eventually(lambda: notifier.reconnects > 0)
            await notifier.wait_until_listening()
            assert notifier.reconnects == 1
            assert await woken_within(notifier, publish(other), 2.0) < 0.5
    finally:
        await other.close()
