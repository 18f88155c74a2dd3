"""The relay: publishes the event log to a NATS JetStream stream, exactly once per position (G19).

>>> async with EventRelay(db, "nats://127.0.0.1:4222"):
...     ...  # serve the app; committed events reach the stream in the background

The relay reads the log in position order, publishes a batch with pipelined
(asynchronous) publishes, waits until JetStream answered every message of it,
and advances its checkpoint over the acknowledged ones. A crash or a broker
outage between publishing and checkpointing makes the next attempt publish
them again; ``Nats-Msg-Id`` (the event id) lets JetStream drop the copies, so
the stream holds each event once (at least once on the wire, exactly once in
the stream). When the broker does not acknowledge, the relay stalls on that
event and retries with backoff; it never skips an event.

**The stream is a contiguous log.** The relay knows the stream's last sequence
``L`` (from the stream's state when it connects or takes over, then from the
acknowledgements). Message ``i`` of a batch carries
``Nats-Expected-Last-Sequence: L + i`` and, from the second on,
``Nats-Expected-Last-Msg-Id`` naming message ``i - 1``: JetStream stores it
only right behind its predecessor in the batch (the sequence alone is not
enough: another publisher's message could take a lost one's place). If one
message is lost, times out or is refused (too big, for example), every later
message of the pipelined batch is refused as well, so the stream never holds
an event without the events before it. A duplicate is still answered as a
duplicate (JetStream checks message ids first); it does not lengthen the
stream, so the messages after it are refused. Either way the relay
checkpoints the acknowledged prefix of the batch, reads the stream's last
sequence again and publishes the rest at once: a batch costs one extra round
per switch from copies to new events, which only happens in a replay.

**Taking over.** The checkpoint and the lease live in ``lamina_subscriptions``,
in the row ``relay:<stream>``: one relay per database and stream publishes at
a time, and another process takes over once the holder's lease expires. A
relay that takes the lease over looks at the stream's last message: thanks to
the contiguity above, every event up to its ``Lamina-Position`` is in the
stream, so those a predecessor published but did not checkpoint are skipped,
even after JetStream's duplicate window.

**The stream belongs to the relay.** Nothing else may publish into it. Each
time the relay reads the stream's last sequence again it checks that every
message added since the last one it knows of is a relayed event; if another
publisher's message is there, the relay stalls and logs (at ERROR, on every
retry) ``another publisher wrote into the stream``, naming the message's
sequence and subject. It resumes once that publisher is stopped and its
messages are deleted from the stream (``nats stream rmm <stream> <seq>``). Two
databases must not relay into one stream either.

**Reset.** :meth:`EventRelay.reset` moves the checkpoint back: the relay
publishes again from there, with the same expectations (behind the stream's
current last message, not where the originals are). Events within the
duplicate window are dropped by JetStream; older ones are stored again, as
copies behind the stream's tail, in position order. A reset is carried out by
the relay that made it: a relay taking over skips past the position of the
stream's last message as usual, so if the first stops before its replay
caught up, the rest of the replay is skipped (those events are in the stream,
as originals); call ``reset`` again to finish it.
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
    Ack,
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
TAIL_SEARCH = 100
"""How many of the stream's newest sequences a relay taking over searches for a message."""
CHECK_LIMIT = 10_000
"""How many messages added since the last one it knows of a relay checks at most (there are
at most a batch unless the lease was lost, and then the relay knows no last message)."""


class RelayStalled(Exception):
    """The broker did not store an event (refused it, or did not answer in time); the relay
    publishes it again after a pause."""


class ForeignMessages(RelayStalled):
    """Another publisher wrote into the relay's stream: the relay stops publishing until its
    messages are deleted. ``subject`` is the subject of the first such message."""

    def __init__(self, message: str, subject: str) -> None:
        super().__init__(message)
        self.subject = subject


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
    sequence: int = 0
    """The stream's last sequence, as the relay knows it (its next message goes right behind)."""
    resyncs: int = 0
    """Times the relay read the stream's last sequence again (on connecting, on taking over,
    after JetStream refused a message because the stream was not where the relay expected)."""
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
        self._last_seq: int | None = None
        """The stream's last sequence as this relay knows it; None when it knows nothing."""
        self._synced = False
        """False while ``_last_seq`` must be read from the stream before publishing."""
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
                logger.log(
                    logging.ERROR if isinstance(error, ForeignMessages) else logging.WARNING,
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
        resynced = not self._synced
        if resynced:
            await self._sync(js)
        batch = await self.store.read(after=self.stats.position, limit=self.batch_size)
        self.stats.head = max(self.stats.head, batch[-1].position if batch else 0)
        if not batch:
            self.stats.head = await self.store.last_position()
            await self.notifier.wait(seen, min(self.poll_interval, self.lease / 3))  # renew in time
            return
        await self._publish(self._publisher, batch, resynced)
        self.stats.batches += 1
        if len(batch) == self.batch_size:
            self.stats.head = max(self.stats.head, await self.store.last_position())

    async def _publish(
        self, publisher: BatchPublisher, batch: list[StoredEvent], resynced: bool
    ) -> None:
        """Publish ``batch`` right behind the stream's last sequence and checkpoint the
        acknowledged prefix; raise if JetStream stored none of it for a reason a retry
        after a pause may fix (``resynced``: the last sequence was just read)."""
        messages = [
            Outgoing(
                wire.subject_for(self.subject_prefix, record),
                wire.encode(record, self.encoding),
                wire.headers_for(record, self.encoding),
            )
            for record in batch
        ]
        after = self._last_seq
        assert after is not None
        outcome = await publisher.publish(messages, self.ack_timeout, after=after)
        self._count(outcome.acks, after)
        if outcome.acks:
            await self._advance(batch[len(outcome.acks) - 1].position)
        failure = outcome.failure
        if outcome.stored_after:  # a hole: only another publisher reusing event ids makes one
            self._synced = False
            raise RelayStalled(
                f"JetStream stored events after the one at position "
                f"{batch[len(outcome.acks)].position}, which it did not store ({failure}); "
                "does another publisher write into the stream?"
            )
        if failure is None:
            return
        position = batch[len(outcome.acks)].position
        if failure.out_of_place:  # a duplicate before it, or the stream changed: look again
            self._synced = False
            if outcome.acks or not resynced:
                return  # progress, or a first try: publish the rest at once
            raise RelayStalled(
                f"the stream's last sequence changed while the relay published the event "
                f"at position {position} ({failure})"
            )
        raise PublishFailed(
            f"the event at position {position} was not stored: {failure}",
            code=failure.code,
            timed_out=failure.timed_out,
        )

    def _count(self, acks: Sequence[Ack], after: int) -> None:
        """Count ``acks`` in the stats and move the known last sequence past the stored ones."""
        stored = 0
        for ack in acks:
            if ack.stream != self.stream:
                raise RelayStalled(f"published into stream {ack.stream!r}, not {self.stream!r}")
            if ack.duplicate:
                self.stats.duplicates += 1
                continue
            stored += 1
            self.stats.published += 1
            if ack.seq != after + stored:  # JetStream ignored the expected sequence
                self._synced = False
        if self._synced:  # else keep the old one: the next look checks every message since
            self._last_seq = after + stored
            self.stats.sequence = after + stored

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
            self._last_seq = None  # another relay may have published meanwhile
            self._synced = False
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
        self._nc, self._js, self._publisher = nc, js, self._publisher_for(nc)
        self._synced = False
        return js

    def _publisher_for(self, nc: Client) -> BatchPublisher:
        """The batch publisher on connection ``nc`` (tests substitute one that loses messages)."""
        return BatchPublisher(nc)

    async def _sync(self, js: JetStreamContext) -> None:
        """Read the stream's last sequence, check that every message added since the last one
        this relay knows of is a relayed event, and (when taking over) move the checkpoint
        past what a predecessor published but did not checkpoint."""
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:  # deleted: connecting again creates it
            raise PublishFailed(f"the stream {self.stream!r} does not exist (any more)") from None
        last, first = info.state.last_seq, info.state.first_seq
        known = self._last_seq
        if known is not None and last < known:
            logger.warning(
                "relay %s: the stream's last sequence went back from %d to %d "
                "(stream deleted and created again, or the broker lost data)",
                self.stream,
                known,
                last,
            )
            known = None
        newest: int | None = None
        if not info.state.messages:
            pass
        elif known is None:  # the newest message that still exists
            newest = await self._newest_position(js, last, max(first, last - TAIL_SEARCH + 1))
        else:
            lowest = max(known + 1, first, last - CHECK_LIMIT + 1)
            newest = await self._check_added(js, lowest, last)
        if self._check_tail and newest is not None and newest > self.stats.position:
            logger.info(
                "relay %s: the stream already holds the events up to position %d",
                self.stream,
                newest,
            )
            await self._advance(newest)
        self._check_tail = False
        self._last_seq = self.stats.sequence = last
        self._synced = True
        self.stats.resyncs += 1

    async def _newest_position(self, js: JetStreamContext, last: int, lowest: int) -> int | None:
        """The position of the newest message in sequences ``lowest..last`` (None: none)."""
        for seq in range(last, lowest - 1, -1):
            position = await self._position_at(js, seq)
            if position is not None:
                return position
        return None

    async def _check_added(self, js: JetStreamContext, lowest: int, last: int) -> int | None:
        """Check every message in sequences ``lowest..last``; the newest one's position."""
        newest: int | None = None
        foreign: list[tuple[int, str]] = []
        for seq in range(last, lowest - 1, -1):
            try:
                position = await self._position_at(js, seq)
            except ForeignMessages as error:
                foreign.append((seq, error.subject))
                continue
            if newest is None:
                newest = position
        if foreign:
            raise self._foreign(sorted(foreign))
        return newest

    async def _position_at(self, js: JetStreamContext, seq: int) -> int | None:
        """The position of the relayed event at ``seq`` (None: no message there any more);
        raises :class:`ForeignMessages` if that message is not a relayed event."""
        try:
            message = await js.get_msg(self.stream, seq)
        except NotFoundError:
            return None
        try:
            return wire.position_of(message.headers)
        except wire.WireError:
            raise self._foreign([(seq, message.subject or "")]) from None

    def _foreign(self, messages: list[tuple[int, str]]) -> ForeignMessages:
        """The error naming ``messages`` (sequence, subject) another publisher wrote."""
        named = ", ".join(f"sequence {seq} subject {subject!r}" for seq, subject in messages[:5])
        more = f" and {len(messages) - 5} more" if len(messages) > 5 else ""
        return ForeignMessages(
            f"another publisher wrote into the stream {self.stream!r} ({named}{more}: no "
            f"{wire.POSITION} header); the relay publishes again once that publisher is "
            f"stopped and its messages are deleted (nats stream rmm {self.stream} <sequence>)",
            messages[0][1],
        )

    async def _disconnect(self) -> None:
        nc, self._nc, self._js, self._publisher = self._nc, None, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()
