"""The relay: publishes the event log to a NATS JetStream stream, exactly once per position (G19).

>>> async with EventRelay(db, "nats://127.0.0.1:4222"):
...     ...  # serve the app; committed events reach the stream in the background

The relay reads the log in position order, publishes a batch with pipelined
(asynchronous) publishes, waits until JetStream acknowledged every message of
it, and only then advances its checkpoint. A crash or a broker outage between
publishing and checkpointing makes the next attempt publish the batch again;
``Nats-Msg-Id`` (the event id) lets JetStream drop the copies, so the stream
holds each event once (at least once on the wire, exactly once in the stream).
When the broker does not acknowledge, the relay stalls on that batch and
retries with backoff; it never skips an event.

The checkpoint and the lease live in ``lamina_subscriptions``, in the row
``relay:<stream>``: one relay per database and stream publishes at a time, and
another process takes over once the holder's lease expires. A relay that takes
the lease over also looks at the stream's last message: events up to its
``Lamina-Position`` were published by a predecessor that died before
checkpointing, so they are skipped even after JetStream's duplicate window
(unless the relay was started with :meth:`EventRelay.reset`, to replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from lamina.events import wire
from lamina.events.checkpoints import Checkpoints
from lamina.events.jetstream import (
    BatchPublisher,
    Outgoing,
    PublishFailed,
    StreamSettings,
    connect,
    ensure_stream,
)
from lamina.events.notifier import EventNotifier
from lamina.events.runner import SubscriptionBusy, default_owner
from lamina.events.store import EventStore
from lamina.events.stored import StoredEvent
from lamina.events.tasks import cancel_and_wait
from lamina.persistence.database import Database

logger = logging.getLogger("lamina.events")

DEFAULT_STREAM = "LAMINA_EVENTS"
DEFAULT_SUBJECT_PREFIX = "lamina"


class RelayStalled(Exception):
    """The broker did not acknowledge a batch (in time, or at all); it is published again."""


@dataclass
class RelayStats:
    """What a relay has done, for metrics and tests."""

    published: int = 0
    """Events JetStream stored."""
    duplicates: int = 0
    """Events JetStream had already (a re-published batch)."""
    batches: int = 0
    failures: int = 0
    """Cycles that failed (broker down, no ack in time, database error); each one is retried."""
    position: int = 0
    """The checkpoint: every event up to it is in the stream."""
    head: int = 0
    """The last position of the log, as the relay last read it."""
    holding: bool = False
    """True while this relay holds the lease (and so publishes)."""
    started_at: float = field(default_factory=time.monotonic)

    @property
    def lag(self) -> int:
        """Events in the log that are not yet in the stream."""
        return max(0, self.head - self.position)


class EventRelay:
    """Publishes the log of ``db`` to the JetStream stream ``stream`` on ``servers``.

    Subjects are ``<subject_prefix>.<event type>.<stream id>`` (see
    :mod:`lamina.events.wire`); the stream is created with ``settings`` when
    missing. ``batch_size`` events are published at a time and must be
    acknowledged within ``ack_timeout`` seconds. ``lease`` (seconds) is how
    long a crashed relay keeps another from taking over. ``poll_interval``
    bounds the wait when no commit notification arrives.
    """

    def __init__(
        self,
        db: Database,
        servers: str | Sequence[str],
        *,
        stream: str = DEFAULT_STREAM,
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        encoding: wire.Encoding = "json",
        settings: StreamSettings | None = None,
        batch_size: int = 500,
        ack_timeout: float = 5.0,
        lease: float = 15.0,
        poll_interval: float = 1.0,
        error_delay: float = 0.5,
        max_error_delay: float = 5.0,
        notifier: EventNotifier | None = None,
        owner: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.db = db
        self.servers = servers
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.encoding: wire.Encoding = encoding
        self.settings = settings if settings is not None else StreamSettings()
        self.batch_size = batch_size
        self.ack_timeout = ack_timeout
        self.lease = lease
        self.poll_interval = poll_interval
        self.error_delay = error_delay
        self.max_error_delay = max_error_delay
        self.notifier = notifier if notifier is not None else EventNotifier(db)
        self._owns_notifier = notifier is None
        self.owner = owner or default_owner()
        self.name = f"relay:{stream}"
        """The row of ``lamina_subscriptions`` holding the checkpoint and the lease."""
        self.store = EventStore(db)
        self.checkpoints = Checkpoints(db, self.owner, lease)
        self.stats = RelayStats()
        self._renew_at: float | None = None
        self._check_tail = False
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._publisher: BatchPublisher | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """True while the relay loop runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start relaying in the background (publishing once this relay holds the lease)."""
        if self.running:
            return
        await self.notifier.start()
        self.stats.started_at = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"lamina-relay-{self.stream}")

    async def stop(self) -> None:
        """Stop relaying, give the lease up and close the broker connection."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        if self._renew_at is not None:
            with contextlib.suppress(Exception):
                await self.checkpoints.release(self.name)
            self._renew_at = None
        self.stats.holding = False
        await self._disconnect()
        if self._owns_notifier:
            await self.notifier.stop()

    async def reset(self, position: int) -> None:
        """Publish again from the event after ``position`` (0: the whole log).

        Call it before :meth:`start`. Raises :class:`~lamina.events.SubscriptionBusy`
        while another relay holds the lease. Events still within the stream's
        duplicate window are dropped by JetStream as copies.
        """
        if position < 0:
            raise ValueError("position must be 0 or more")
        if not await self._hold():
            raise SubscriptionBusy(f"{self.name!r} is run by another process")
        await self._advance(position)
        self._check_tail = False

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._cycle()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                self.stats.failures += 1
                delay = min(self.max_error_delay, self.error_delay * 2 ** min(failures - 1, 10))
                logger.warning(
                    "relay %s: stalled at position %d (%s); retrying in %.1fs",
                    self.stream,
                    self.stats.position,
                    error,
                    delay,
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
                if isinstance(error, SubscriptionBusy):
                    self._renew_at = None
                if isinstance(error, PublishFailed):  # connect again, and re-check the stream
                    await self._disconnect()
                await asyncio.sleep(delay)

    async def _cycle(self) -> None:
        seen = self.notifier.generation
        if not await self._hold():
            self.stats.holding = False
            await asyncio.sleep(min(self.poll_interval, self.lease / 3))
            return
        js = await self._broker()
        assert self._publisher is not None
        if self._check_tail:
            await self._skip_published(js)
            self._check_tail = False
        batch = await self.store.read(after=self.stats.position, limit=self.batch_size)
        self.stats.head = max(self.stats.head, batch[-1].position if batch else 0)
        if not batch:
            self.stats.head = await self.store.last_position()
            await self.notifier.wait(seen, min(self.poll_interval, self.lease / 3))  # renew in time
            return
        await self._publish(self._publisher, batch)
        await self._advance(batch[-1].position)
        self.stats.batches += 1
        if len(batch) == self.batch_size:
            self.stats.head = max(self.stats.head, await self.store.last_position())

    async def _publish(self, publisher: BatchPublisher, batch: list[StoredEvent]) -> None:
        messages = [
            Outgoing(
                wire.subject_for(self.subject_prefix, record),
                wire.encode(record, self.encoding),
                wire.headers_for(record, self.encoding),
            )
            for record in batch
        ]
        for ack in await publisher.publish(messages, self.ack_timeout):
            if ack.stream != self.stream:
                raise RelayStalled(f"published into stream {ack.stream!r}, not {self.stream!r}")
            if ack.duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.published += 1

    async def _hold(self) -> bool:
        """Make sure this relay holds the lease (renewing it when due); False if another does."""
        if self._renew_at is not None and time.monotonic() < self._renew_at:
            return True
        taking_over = self._renew_at is None
        if taking_over:
            await self.checkpoints.ensure(self.name, 0)
        if not await self.checkpoints.claim(self.name):
            self._renew_at = None
            return False
        self._renew_at = time.monotonic() + self.lease / 3
        if taking_over:
            state = await self.checkpoints.state(self.name)
            assert state is not None
            self.stats.position = state.position
            self.stats.holding = True
            self._check_tail = True
            logger.info("relay %s: publishing after position %d", self.stream, state.position)
        return True

    async def _advance(self, position: int) -> None:
        if not await self.checkpoints.advance(self.name, position):
            self._renew_at = None
            self.stats.holding = False
            raise SubscriptionBusy(f"{self.name!r}: lease lost to another process")
        self.stats.position = position
        self._renew_at = time.monotonic() + self.lease / 3

    async def _broker(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and not self._nc.is_closed:
            return self._js
        await self._disconnect()
        nc = await connect(self.servers, name=f"lamina-relay {self.owner}")
        try:
            js = nc.jetstream()
            subjects = [f"{self.subject_prefix}.>"]
            await ensure_stream(js, self.stream, subjects, self.settings)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js, self._publisher = nc, js, BatchPublisher(nc)
        return js

    async def _skip_published(self, js: JetStreamContext) -> None:
        """Move the checkpoint past what a predecessor published but did not checkpoint."""
        info = await js.stream_info(self.stream)
        last = info.state.last_seq
        if not last or not info.state.messages:
            return
        try:
            message = await js.get_msg(self.stream, last)
        except NotFoundError:
            return
        try:
            published = wire.position_of(message.headers)
        except wire.WireError:
            return
        if published > self.stats.position:
            logger.info(
                "relay %s: the stream already holds the events up to position %d",
                self.stream,
                published,
            )
            await self._advance(published)

    async def _disconnect(self) -> None:
        nc, self._nc, self._js, self._publisher = self._nc, None, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()
