"""G19: a relayed event reaches the broker exactly once per position, in position order."""

from __future__ import annotations

import asyncio

import nats
from events_testkit import Tick

from lamina.events import EventRelay, EventStore
from lamina.events.wire import CONTENT_TYPE, EVENT_TYPE, MSG_ID, POSITION, decode
from lamina.persistence import Database
from nats_kit import cleaned_up, stream_positions, unique_stream, wait_for_count

WRITERS = 8
EVENTS = 10_000
PER_COMMIT = 25


async def append_concurrently(db: Database, writers: int, events: int) -> None:
    """``events`` Ticks from ``writers`` concurrent writers, ``PER_COMMIT`` per transaction."""

    async def write(writer: int) -> None:
        for start in range(0, events // writers, PER_COMMIT):
            async with db.unit_of_work() as uow:
                for n in range(start, start + PER_COMMIT):
                    uow.publish(Tick(channel=f"w{writer}", n=n))

    await asyncio.gather(*(write(w) for w in range(writers)))


async def test_g19_events_of_concurrent_writers_arrive_once_each_in_position_order(
    db: Database, nats_url: str
) -> None:
    stream = unique_stream()
    async with cleaned_up(nats_url, stream):
        relay = EventRelay(
            db, nats_url, stream=stream, subject_prefix=stream.lower(), poll_interval=0.05
        )
        async with relay:
            await append_concurrently(db, WRITERS, EVENTS)
            assert await wait_for_count(nats_url, stream, EVENTS, 60) == EVENTS
            expected = [e.position for e in await EventStore(db).read(limit=EVENTS + 1)]
            for _ in range(100):
                if relay.stats.position == expected[-1]:
                    break
                await asyncio.sleep(0.05)
        assert await stream_positions(nats_url, stream) == expected
        assert relay.stats.published == EVENTS
        assert relay.stats.position == expected[-1]
        assert relay.stats.lag == 0


async def test_g19_message_carries_subject_headers_and_the_record(
    db: Database, nats_url: str
) -> None:
    stream = unique_stream()
    prefix = stream.lower()
    async with cleaned_up(nats_url, stream):
        async with db.unit_of_work() as uow:
            uow.publish(Tick(channel="a.b c", n=7))
        [stored] = await EventStore(db).read()
        nc = await nats.connect(nats_url)
        try:
            async with EventRelay(db, nats_url, stream=stream, subject_prefix=prefix):
                assert await wait_for_count(nats_url, stream, 1, 10) == 1
            message = await nc.jetstream().get_msg(stream, 1)
        finally:
            await nc.close()
    assert message.subject == f"{prefix}.test.tick.a_b_c"
    headers = message.headers or {}
    assert headers[MSG_ID] == str(stored.event_id)
    assert headers[POSITION] == str(stored.position)
    assert headers[EVENT_TYPE] == "test.tick"
    assert headers[CONTENT_TYPE] == "application/json"
    assert headers["Lamina-Correlation-Id"] == stored.context.correlation_id
    assert headers["Lamina-Priority"] == str(int(stored.priority))
    assert headers["Lamina-Schema-Version"] == "1"
    assert decode(message.data or b"", headers) == stored


async def test_g19_reset_publishes_again_and_jetstream_drops_the_copies(
    db: Database, nats_url: str
) -> None:
    stream = unique_stream()
    async with cleaned_up(nats_url, stream):
        async with db.unit_of_work() as uow:
            for n in range(20):
                uow.publish(Tick(channel="r", n=n))
        first = EventRelay(db, nats_url, stream=stream, subject_prefix=stream.lower())
        async with first:
            assert await wait_for_count(nats_url, stream, 20, 10) == 20
        again = EventRelay(
            db, nats_url, stream=stream, subject_prefix=stream.lower(), encoding="msgpack"
        )
        await again.reset(5)
        async with again:
            for _ in range(200):
                if again.stats.position == 20:
                    break
                await asyncio.sleep(0.05)
        assert again.stats.duplicates == 15
        assert again.stats.published == 0
        assert await stream_positions(nats_url, stream) == list(range(1, 21))
