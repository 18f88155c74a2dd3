"""StreamConsumer: a service without the database follows the relayed stream, at least once,
with retries and dead letters like in-database subscriptions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import nats
from events_testkit import HERE, SUBPROCESS_PATH, Deposited, Tick

from lamina.events import (
    EventRelay,
    EventStore,
    HandlerRetry,
    StoredEvent,
    StreamConsumer,
    Subscription,
)
from lamina.events.stream_dead_letters import ATTEMPTS, CONSUMER, ERROR
from lamina.persistence import Database
from nats_kit import cleaned_up, unique_stream, wait_for_count


def consumer_process(
    nats_url: str, stream: str, output: Path, expected: int, *crash_at: int
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SUBPROCESS_PATH}
    args = [str(HERE / "stream_consumer_worker.py"), nats_url, stream, str(output), str(expected)]
    return subprocess.Popen([sys.executable, *args, *map(str, crash_at)], env=env)


async def publish_ticks(db: Database, count: int) -> list[int]:
    async with db.unit_of_work() as uow:
        for n in range(count):
            uow.publish(Tick(channel="t", n=n))
    return [e.position for e in await EventStore(db).read(limit=count + 100)]


async def test_consumer_crashing_between_handling_and_ack_sees_every_event_once(
    db: Database, nats_url: str, tmp_path: Path
) -> None:
    stream = unique_stream()
    output = tmp_path / "projection.txt"
    async with cleaned_up(nats_url, stream):
        positions = await publish_ticks(db, 30)
        async with EventRelay(db, nats_url, stream=stream, subject_prefix=stream.lower()):
            assert await wait_for_count(nats_url, stream, 30, 10) == 30
        crash_at = positions[12]
        crashing = consumer_process(nats_url, stream, output, 30, crash_at)
        assert await asyncio.to_thread(crashing.wait, 30) == -9
        calls = [int(line) for line in output.read_text().split()]
        assert calls[-1] == crash_at

        restarted = consumer_process(nats_url, stream, output, 30)
        assert await asyncio.to_thread(restarted.wait, 30) == 0
    calls = [int(line) for line in output.read_text().split()]
    assert sorted(set(calls)) == positions  # every event, once by its idempotency key
    assert calls.count(crash_at) == 2  # handled, not acknowledged: delivered again
    after_crash = positions[positions.index(crash_at) + 1 :]
    assert all(calls.count(p) == 1 for p in after_crash)  # never handled twice otherwise


async def test_consumer_retries_then_dead_letters_to_jetstream_and_moves_on(
    db: Database, nats_url: str
) -> None:
    stream = unique_stream()
    handled: list[int] = []
    attempts: list[int] = []
    subscription = Subscription("flaky", retry=HandlerRetry(max_attempts=3, base_delay=0.01))

    @subscription.handles(Deposited)
    async def book(event: Deposited, record: StoredEvent) -> None:
        if event.amount < 0:
            attempts.append(record.position)
            raise ValueError("negative deposit")
        handled.append(event.amount)

    async with cleaned_up(nats_url, stream):
        async with db.unit_of_work() as uow:
            uow.publish(Deposited(account="a", amount=1))
            uow.publish(Tick(channel="ignored", n=0))
            uow.publish(Deposited(account="a", amount=-5))
            uow.publish(Deposited(account="a", amount=2))
        prefix = stream.lower()
        relay = EventRelay(db, nats_url, stream=stream, subject_prefix=prefix)
        consumer = StreamConsumer(
            nats_url, subscription, stream=stream, subject_prefix=prefix, fetch_wait=0.2
        )
        async with relay, consumer:
            for _ in range(200):
                if consumer.stats.delivered + consumer.stats.dead_lettered == 3:
                    break
                await asyncio.sleep(0.05)
        assert handled == [1, 2]
        assert consumer.stats.delivered == 2
        assert consumer.stats.dead_lettered == 1
        assert consumer.stats.failed == 3
        assert len(attempts) == 3

        nc = await nats.connect(nats_url)
        try:
            letter = await nc.jetstream().get_msg(f"{stream}_DEAD_LETTERS", 1)
        finally:
            await nc.close()
        headers = letter.headers or {}
        assert letter.subject == f"{prefix}_dead_letters.flaky.test.deposited"
        assert headers[CONSUMER] == "flaky"
        assert headers[ATTEMPTS] == "3"
        assert "negative deposit" in headers[ERROR]
        assert headers["Lamina-Position"] == str(attempts[0])
