"""Following a relayed stream from another service: a durable JetStream pull consumer that
feeds a :class:`~lamina.events.Subscription`, with no database.

>>> projection = Subscription("search-index", retry=HandlerRetry(max_attempts=5))
>>> @projection.handles(MessagePosted)
... async def index(event: MessagePosted, record: StoredEvent) -> None: ...
>>> async with StreamConsumer("nats://127.0.0.1:4222", projection):
...     ...

Delivery works as in-database subscriptions do: at least once (a message is
acknowledged only after its handler succeeded, so a consumer that dies
between handling and acknowledging gets it again after ``ack_wait``; make
handlers idempotent with ``record.position`` or ``record.event_id`` as the
key; the acknowledgements of a fetched batch are flushed to the server at
its end, so a crash within a batch may also redeliver the events before it),
a failing handler is retried with the subscription's
:class:`~lamina.events.HandlerRetry` backoff, and after its last attempt the
event goes to the dead letters (a :class:`DeadLetterSink`; by default a
JetStream stream, see :mod:`lamina.events.stream_dead_letters`) and the
consumer moves on. The durable consumer's name is the subscription's name,
so a restarted process resumes where the last acknowledgement left it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from lamina.domain.context import use_context
from lamina.domain.entity import utcnow
from lamina.events import wire
from lamina.events.handlers import Subscription
from lamina.events.jetstream import connect
from lamina.events.relay import DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX
from lamina.events.runner import describe
from lamina.events.stored import StoredEvent
from lamina.events.stream_dead_letters import (
    DeadLetterSink,
    JetStreamDeadLetters,
    StreamDeadLetter,
)
from lamina.events.tasks import cancel_and_wait

logger = logging.getLogger("lamina.events")


@dataclass
class ConsumerStats:
    """What a stream consumer has done."""

    delivered: int = 0
    """Events a handler took successfully."""
    failed: int = 0
    """Handler calls that raised."""
    dead_lettered: int = 0
    redelivered: int = 0
    """Messages JetStream delivered again (not acknowledged in time, e.g. after a crash)."""
    position: int = 0
    """The position of the last event acknowledged."""


class StreamConsumer:
    """Feeds the events of the JetStream ``stream`` on ``servers`` to ``subscription``.

    ``durable`` names the JetStream consumer (default: the subscription's
    name, made subject-safe); ``dead_letters`` keeps what handlers gave up on
    (default: the stream ``<stream>_DEAD_LETTERS``). ``batch_size`` messages
    are fetched at a time; one not acknowledged within ``ack_wait`` seconds is
    delivered again. A new consumer starts where ``subscription.start`` says:
    the beginning of the stream, or its end.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        subscription: Subscription,
        *,
        stream: str = DEFAULT_STREAM,
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        durable: str | None = None,
        dead_letters: DeadLetterSink | None = None,
        batch_size: int = 100,
        ack_wait: float = 30.0,
        fetch_wait: float = 1.0,
        error_delay: float = 1.0,
    ) -> None:
        self.servers = servers
        self.subscription = subscription
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.durable = durable or wire.token(subscription.name)
        self.dead_letters = dead_letters
        self.batch_size = batch_size
        self.ack_wait = ack_wait
        self.fetch_wait = fetch_wait
        self.error_delay = error_delay
        self.stats = ConsumerStats()
        self._nc: Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StreamConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start consuming in the background (connecting, and retrying while NATS is down)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"lamina-consumer-{self.durable}")

    async def stop(self) -> None:
        """Stop consuming; messages not yet acknowledged are delivered again later."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except NotFoundError:
                logger.warning("stream consumer %s: no stream %s yet", self.durable, self.stream)
                await asyncio.sleep(self.error_delay)
            except Exception:
                logger.warning("stream consumer %s failed; retrying", self.durable, exc_info=True)
                await asyncio.sleep(self.error_delay)

    async def _consume(self) -> None:
        if self._nc is None or self._nc.is_closed:
            self._nc = await connect(self.servers, name=f"lamina-consumer {self.durable}")
        js = self._nc.jetstream()
        if self.dead_letters is None:
            self.dead_letters = JetStreamDeadLetters(
                js, f"{self.stream}_DEAD_LETTERS", f"{self.subject_prefix}_dead_letters"
            )
        deliver = DeliverPolicy.NEW if self.subscription.start == "end" else DeliverPolicy.ALL
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            deliver_policy=deliver,
            filter_subject=f"{self.subject_prefix}.>",
            max_ack_pending=max(1000, self.batch_size),
        )
        pull = await js.pull_subscribe(
            f"{self.subject_prefix}.>", durable=self.durable, stream=self.stream, config=config
        )
        while True:
            try:
                messages = await pull.fetch(self.batch_size, timeout=self.fetch_wait)
            except TimeoutError:
                continue
            await self._handle_batch(messages)
            await self._nc.flush()  # the batch's acknowledgements have reached the server

    async def _handle_batch(self, messages: list[Msg]) -> None:
        records: list[StoredEvent] = []
        by_position: dict[int, Msg] = {}
        for message in messages:
            if message.metadata.num_delivered > 1:
                self.stats.redelivered += 1
            try:
                record = wire.decode(message.data, message.headers)
            except wire.WireError as error:
                await self._bury(message, None, 1, str(error))
                continue
            if self.subscription.wants(record):
                records.append(record)
                by_position[record.position] = message
            else:
                await message.ack()
        for unit in self.subscription.deliveries(records):
            failure = await self._deliver(unit, [by_position[r.position] for r in unit])
            for record in unit:
                message = by_position[record.position]
                if failure is None:
                    await message.ack()
                    self.stats.delivered += 1
                else:
                    attempts = self.subscription.retry.max_attempts
                    await self._bury(message, record, attempts, failure)
                self.stats.position = max(self.stats.position, record.position)

    async def _deliver(self, records: list[StoredEvent], messages: list[Msg]) -> str | None:
        """Run the handler of ``records`` with retries; None on success, else the last error."""
        retry = self.subscription.retry
        record = records[-1]
        context = record.context.with_changes(
            causation_id=str(record.event_id), occurred_at=utcnow()
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                with use_context(context):
                    await self.subscription.handle(records)
            except Exception as error:
                self.stats.failed += 1
                if attempt >= retry.max_attempts:
                    logger.error(
                        "stream consumer %s: event %s (%s) failed %d times; dead-lettered",
                        self.durable,
                        ", ".join(str(r.position) for r in records),
                        record.event_type,
                        attempt,
                        exc_info=error,
                    )
                    return describe(error)
                logger.warning(
                    "stream consumer %s: event %s (%s) failed (attempt %d of %d): %s",
                    self.durable,
                    record.position,
                    record.event_type,
                    attempt,
                    retry.max_attempts,
                    error,
                )
                for message in messages:  # the retries must not outlast ack_wait
                    await message.in_progress()
                await asyncio.sleep(retry.delay(attempt))
            else:
                return None

    async def _bury(
        self, message: Msg, record: StoredEvent | None, attempts: int, error: str
    ) -> None:
        assert self.dead_letters is not None
        letter = StreamDeadLetter(
            consumer=self.durable,
            subject=message.subject,
            data=message.data,
            headers=dict(message.headers or {}),
            attempts=attempts,
            error=error,
            position=record.position if record is not None else None,
            event_type=record.event_type if record is not None else None,
        )
        await self.dead_letters.record(letter)
        await message.ack()
        self.stats.dead_lettered += 1
