"""G19, the stream as a contiguous log: the relay's messages reach JetStream only right behind
each other (``Nats-Expected-Last-Sequence``, and ``Nats-Expected-Last-Msg-Id`` within a
batch), so a message lost or refused in the middle of a pipelined batch never leaves a hole
that a restarted relay would skip over; a replay whose events are partly still in the
duplicate window makes progress; and another publisher in the relay's stream stalls the relay
with a clear error instead of losing events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import nats
import pytest
from events_testkit import Tick
from nats.aio.client import Client
from nats.js.api import StreamConfig

from lamina.events import EventRelay, StreamSettings
from lamina.events.jetstream import BatchPublisher
from lamina.events.wire import POSITION
from lamina.persistence import Database
from nats_kit import cleaned_up, stream_positions, unique_stream

SMALL = 2048
"""The stream's maximum message size in the refusal test: a Tick with a big blob exceeds it."""


async def eventually(condition: Callable[[], bool], within: float = 20) -> bool:
    """Wait until ``condition()`` holds (True) or ``within`` seconds passed (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def relay_on(
    db: Database,
    url: str,
    stream: str,
    *,
    settings: StreamSettings | None = None,
    ack_timeout: float = 5.0,
) -> EventRelay:
    return EventRelay(
        db,
        url,
        stream=stream,
        subject_prefix=stream.lower(),
        settings=settings,
        poll_interval=0.05,
        error_delay=0.05,
        max_error_delay=0.2,
        ack_timeout=ack_timeout,
    )


async def ticks(db: Database, numbers: range, big: int | None = None) -> None:
    """One commit of a Tick for each of ``numbers`` (Tick ``big`` too big for the stream)."""
    async with db.unit_of_work() as uow:
        for n in numbers:
            uow.publish(Tick(channel="c", n=n, blob="x" * (4 * SMALL if n == big else 0)))


async def test_g19_a_message_refused_mid_batch_is_not_skipped_by_a_restarted_relay(
    db: Database, nats_url: str
) -> None:
    stream = unique_stream()
    prefix = stream.lower()
    async with cleaned_up(nats_url, stream):
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        config = StreamConfig(name=stream, subjects=[f"{prefix}.>"], max_msg_size=SMALL)
        await js.add_stream(config)
        try:
            await ticks(db, range(10), big=4)  # one batch; its 5th event is too big
            first = relay_on(db, nats_url, stream)
            async with first:
                assert await eventually(lambda: first.stats.failures >= 2)
            # the events before the refused one are in the stream, and checkpointed; the
            # pipelined ones after it were refused (before the fix: stored, a hole at 5)
            assert await stream_positions(nats_url, stream) == [1, 2, 3, 4]
            assert first.stats.position == 4

            second = relay_on(db, nats_url, stream)  # takes over, looks at the stream's tail
            async with second:
                assert await eventually(lambda: second.stats.failures >= 2)
                assert second.stats.position == 4  # it stalls on the refused event
                lifted = StreamConfig.from_response({**config.as_dict(), "max_msg_size": -1})
                await js.update_stream(lifted)
                assert await eventually(lambda: second.stats.position == 10)
            assert await stream_positions(nats_url, stream) == list(range(1, 11))
        finally:
            await nc.close()


class LosingPublisher(BatchPublisher):
    """Never sends the message of the event at position ``lost``: it is lost on the wire."""

    def __init__(self, nc: Client, lost: int) -> None:
        super().__init__(nc)
        self.lost = str(lost)

    async def _send(self, subject: str, body: bytes, reply: str, headers: dict[str, str]) -> None:
        if headers.get(POSITION) != self.lost:
            await super()._send(subject, body, reply, headers)


class LosingRelay(EventRelay):
    """A relay whose connection loses the message of one event, every time."""

    lost = 5

    def _publisher_for(self, nc: Client) -> BatchPublisher:
        return LosingPublisher(nc, self.lost)


async def test_g19_a_message_lost_mid_batch_is_published_by_the_next_relay(
    db: Database, nats_url: str
) -> None:
    stream = unique_stream()
    async with cleaned_up(nats_url, stream):
        await ticks(db, range(10))
        first = LosingRelay(
            db,
            nats_url,
            stream=stream,
            subject_prefix=stream.lower(),
            poll_interval=0.05,
            error_delay=0.05,
            max_error_delay=0.2,
            ack_timeout=0.3,
        )
        async with first:
            assert await eventually(lambda: first.stats.failures >= 2)
        assert first.stats.position == 4  # it waits for event 5's acknowledgement...
        assert await stream_positions(nats_url, stream) == [1, 2, 3, 4]  # ...and 6.. wait too

        second = relay_on(db, nats_url, stream)  # crash, restart: nothing lost any more
        async with second:
            assert await eventually(lambda: second.stats.position == 10)
        assert await stream_positions(nats_url, stream) == list(range(1, 11))
        assert second.stats.published == 6
        assert second.stats.failures == 0


async def test_g19_reset_replay_with_some_events_still_in_the_duplicate_window_progresses(
    db: Database, nats_url: str
) -> None:
    window = 2.0
    stream = unique_stream()
    settings = StreamSettings(duplicate_window=window)
    async with cleaned_up(nats_url, stream):
        first = relay_on(db, nats_url, stream, settings=settings)
        async with first:
            await ticks(db, range(10))
            assert await eventually(lambda: first.stats.position == 10)
            await asyncio.sleep(2 * window)  # JetStream forgets the ids of events 1..10
            await ticks(db, range(10, 20))
            assert await eventually(lambda: first.stats.position == 20)
        await ticks(db, range(20, 30))

        again = relay_on(db, nats_url, stream, settings=settings)
        await again.reset(0)  # one batch: 1..10 stored again, 11..20 duplicates, 21..30 new
        async with again:
            assert await eventually(lambda: again.stats.position == 30)
        assert await stream_positions(nats_url, stream) == [
            *range(1, 21),
            *range(1, 11),
            *range(21, 31),
        ]
        assert again.stats.published == 20
        assert again.stats.duplicates == 10
        assert again.stats.failures == 0  # a refusal behind duplicates is no stall


async def test_g19_another_publisher_in_the_stream_stalls_the_relay_with_a_clear_error(
    db: Database, nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lamina.events")
    stream = unique_stream()
    prefix = stream.lower()
    async with cleaned_up(nats_url, stream):
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        try:
            relay = relay_on(db, nats_url, stream)
            async with relay:
                await ticks(db, range(5))
                assert await eventually(lambda: relay.stats.position == 5)
                intruder = await js.publish(f"{prefix}.intruder", b"not an event")
                another = await js.publish(f"{prefix}.other", b"nor this")
                await ticks(db, range(5, 10))
                assert await eventually(lambda: relay.stats.failures >= 3)
                assert relay.stats.position == 5
                # none of 6..10 went in behind the intruder (by sequence alone, 7..10 would)
                events = f"{prefix}.test.>"
                assert await stream_positions(nats_url, stream, events) == [1, 2, 3, 4, 5]
            stalls = [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.ERROR and "another publisher" in r.getMessage()
            ]
            assert len(stalls) >= 3  # said on every retry, not a silent loop
            assert f"sequence {intruder.seq} subject '{prefix}.intruder'" in stalls[0]
            assert f"sequence {another.seq} subject '{prefix}.other'" in stalls[0]

            successor = relay_on(db, nats_url, stream)  # a relay taking over stalls too
            async with successor:
                assert await eventually(lambda: successor.stats.failures >= 2)
                assert successor.stats.position == 5
                await js.delete_msg(stream, another.seq)  # the operator's remedy
                await asyncio.sleep(0.3)
                assert successor.stats.position == 5  # the older one is still there
                await js.delete_msg(stream, intruder.seq)
                assert await eventually(lambda: successor.stats.position == 10)
            assert await stream_positions(nats_url, stream) == list(range(1, 11))
        finally:
            await nc.close()


async def test_g19_a_stream_deleted_under_the_relay_is_created_again_and_relaying_goes_on(
    db: Database, nats_url: str
) -> None:
    stream = unique_stream()
    async with cleaned_up(nats_url, stream):
        nc = await nats.connect(nats_url)
        try:
            relay = relay_on(db, nats_url, stream, ack_timeout=1.0)
            async with relay:
                await ticks(db, range(5))
                assert await eventually(lambda: relay.stats.position == 5)
                await nc.jetstream().delete_stream(stream)
                await ticks(db, range(5, 10))
                assert await eventually(lambda: relay.stats.position == 10)
            assert await stream_positions(nats_url, stream) == [6, 7, 8, 9, 10]
        finally:
            await nc.close()
