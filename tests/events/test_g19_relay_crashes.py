"""G19 under crashes: relays killed with SIGKILL, the broker killed and restarted, two relays
at once — the stream still holds each event exactly once, in position order."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from pathlib import Path

import pytest
from events_testkit import Tick

from lamina.events import EventRelay, EventStore, subscription_states
from lamina.persistence import Database
from nats_kit import (
    PrivateNats,
    cleaned_up,
    relay_process,
    stream_positions,
    unique_stream,
    wait_for_count,
)


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(10)


async def append_slowly(db: Database, commits: int, per_commit: int, pause: float) -> None:
    for c in range(commits):
        async with db.unit_of_work() as uow:
            for n in range(per_commit):
                uow.publish(Tick(channel=f"c{c % 7}", n=c * per_commit + n))
        await asyncio.sleep(pause)


async def test_g19_relay_sigkilled_five_times_and_broker_restarted_keeps_each_event_once(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    if not PrivateNats.available():
        pytest.skip("needs /usr/sbin/nats-server")
    broker = PrivateNats(tmp_path / "jetstream")
    await broker.start()
    stream = unique_stream()
    rng = random.Random()
    writing = asyncio.create_task(append_slowly(db, commits=150, per_commit=20, pause=0.03))
    relay = relay_process(db_url, broker.url, stream, "--batch-size", "100")
    try:
        for kills in range(5):
            await asyncio.sleep(rng.uniform(0.8, 2.0))
            kill(relay)
            if kills == 2:  # the broker dies too, and comes back while no relay runs
                broker.kill()
                await asyncio.sleep(0.3)
                await broker.start()
            relay = relay_process(db_url, broker.url, stream, "--batch-size", "100")
            if kills == 3:
                await asyncio.sleep(0.5)
                broker.kill()  # and once under a running relay
                await asyncio.sleep(0.5)
                await broker.start()
        await writing
        expected = [e.position for e in await EventStore(db).read(limit=10_000)]
        assert len(expected) == 3000
        assert await wait_for_count(broker.url, stream, len(expected), 60) == len(expected)
        await asyncio.sleep(0.5)  # a copy published late would show now
        assert await stream_positions(broker.url, stream) == expected
    finally:
        writing.cancel()
        kill(relay)
        broker.kill()


async def test_g19_two_relays_one_publishes_the_other_takes_over_when_it_dies(
    db: Database, db_url: str, nats_url: str
) -> None:
    stream = unique_stream()
    async with cleaned_up(nats_url, stream):
        await append_slowly(db, commits=5, per_commit=20, pause=0)
        first = relay_process(db_url, nats_url, stream)
        second = relay_process(db_url, nats_url, stream)
        relays = {p.pid: p for p in (first, second)}
        try:
            assert await wait_for_count(nats_url, stream, 100, 20) == 100
            [state] = [s for s in await subscription_states(db) if s.name == f"relay:{stream}"]
            assert state.owner is not None
            holder = relays.pop(int(state.owner.split(":")[1]))
            [waiting] = relays.values()
            kill(holder)
            assert waiting.poll() is None
            await append_slowly(db, commits=5, per_commit=20, pause=0)
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await wait_for_count(nats_url, stream, 200, 10) == 200
            assert loop.time() - started < 1.0 + 3.0  # the lease, and a process's wake-up
            [state] = [s for s in await subscription_states(db) if s.name == f"relay:{stream}"]
            assert state.owner is not None
            assert int(state.owner.split(":")[1]) == waiting.pid
            expected = [e.position for e in await EventStore(db).read(limit=1000)]
            assert await stream_positions(nats_url, stream) == expected
        finally:
            kill(first)
            kill(second)


async def test_g19_relay_stalls_while_the_broker_is_down_and_resumes_without_a_gap(
    db: Database, tmp_path: Path
) -> None:
    if not PrivateNats.available():
        pytest.skip("needs /usr/sbin/nats-server")
    broker = PrivateNats(tmp_path / "jetstream")
    stream = unique_stream()
    await append_slowly(db, commits=3, per_commit=10, pause=0)
    relay = EventRelay(
        db,
        broker.url,
        stream=stream,
        subject_prefix=stream.lower(),
        poll_interval=0.05,
        error_delay=0.05,
        max_error_delay=0.2,
        ack_timeout=1.0,
    )
    try:
        async with relay:
            for _ in range(100):
                if relay.stats.failures >= 2:
                    break
                await asyncio.sleep(0.05)
            assert relay.stats.failures >= 2  # no broker: it retries...
            assert relay.stats.position == 0  # ...and moves on past nothing
            await broker.start()
            assert await wait_for_count(broker.url, stream, 30, 20) == 30
        expected = [e.position for e in await EventStore(db).read()]
        assert await stream_positions(broker.url, stream) == expected
        assert relay.stats.position == expected[-1]
    finally:
        broker.kill()
