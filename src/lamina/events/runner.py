"""The runner: feeds the event log to subscriptions, with checkpoints, retries and dead letters.

>>> async with EventRunner(db, [notifications, conversation_counts]):
...     ...  # serve the app; handlers run in the background

Delivery is at least once (G8): a subscription's checkpoint moves only after
the events before it were handled (or dead-lettered), so a process that dies
after a commit and before its handlers ran hands the events to whichever
runner takes the subscription over. One runner at a time consumes a
subscription: it holds a lease in ``lamina_subscriptions`` and renews it while
working; another process takes over once the lease expires.

Within one read batch, waiting work is ordered by priority: the streams holding
higher-priority events are handled first, while the events of one stream keep
their log order. Priorities never change the log itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from lamina.domain.context import use_context
from lamina.domain.entity import utcnow
from lamina.domain.ids import uuid7
from lamina.events.checkpoints import Checkpoints
from lamina.events.dead_letters import DeadLetter, DeadLetters
from lamina.events.handlers import Subscription
from lamina.events.notifier import EventNotifier
from lamina.events.store import EventStore
from lamina.events.stored import StoredEvent
from lamina.events.tasks import cancel_and_wait
from lamina.persistence.database import Database

logger = logging.getLogger("lamina.events")

Progress = Callable[[int, int], None]
"""``progress(position, target)``: called after each batch of a replay or catch-up."""


class SubscriptionBusy(Exception):
    """Another runner holds the subscription's lease."""


@dataclass
class RunnerStats:
    """Counters of one runner, over all its subscriptions."""

    delivered: int = 0
    """Events a handler took successfully."""
    failed: int = 0
    """Handler calls that raised (a ``handles_together`` call carries several events)."""
    dead_lettered: int = 0
    redriven: int = 0
    """Dead letters handled successfully on re-drive."""


def default_owner() -> str:
    """An identity for this runner: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid7().hex[-8:]}"


class EventRunner:
    """Runs ``subscriptions`` against the log of ``db``.

    ``batch_size`` events are read at a time; ``poll_interval`` bounds the wait
    when no notification arrives; ``lease`` (seconds) is how long a crashed
    runner keeps others from taking its subscriptions over.
    """

    def __init__(
        self,
        db: Database,
        subscriptions: Iterable[Subscription],
        *,
        notifier: EventNotifier | None = None,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        lease: float = 15.0,
        error_delay: float = 1.0,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.subscriptions = {s.name: s for s in subscriptions}
        self.notifier = notifier if notifier is not None else EventNotifier(db)
        self._owns_notifier = notifier is None
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.error_delay = error_delay
        self.lease = lease
        self.owner = owner or default_owner()
        self.store = EventStore(db)
        self.checkpoints = Checkpoints(db, self.owner, lease)
        self.dead_letters = DeadLetters(db)
        self.stats = RunnerStats()
        self.positions: dict[str, int] = {}
        """Last handled position of each subscription this runner holds."""
        self._renew_at: dict[str, float] = {}
        self._locks = {name: asyncio.Lock() for name in self.subscriptions}
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> EventRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start consuming every subscription in the background."""
        if self._tasks:
            return
        await self.notifier.start()
        for subscription in self.subscriptions.values():
            task = asyncio.create_task(
                self._consume(subscription), name=f"lamina-subscription-{subscription.name}"
            )
            self._tasks.append(task)

    async def stop(self) -> None:
        """Stop consuming and give the leases up (unfinished events are handled again later)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)
        for name in list(self._renew_at):
            with contextlib.suppress(Exception):
                await self.checkpoints.release(name)
        self._renew_at.clear()
        if self._owns_notifier:
            await self.notifier.stop()

    async def catch_up(self, name: str, *, progress: Progress | None = None) -> int:
        """Handle the events of ``name`` up to the end of the log as it is now.

        Returns how many events were read. Raises :class:`SubscriptionBusy` if
        another runner holds the subscription.
        """
        subscription = self.subscriptions[name]
        async with self._locks[name]:
            if not await self._hold(subscription):
                raise SubscriptionBusy(f"subscription {name!r} is run by another process")
            return await self._catch_up(subscription, progress)

    async def replay(self, name: str, *, after: int = 0, progress: Progress | None = None) -> int:
        """Handle every event after position ``after`` again, then continue as usual.

        From position 0 the subscription's ``reset`` runs first, so a projection
        is rebuilt from scratch. Returns how many events were read.
        """
        subscription = self.subscriptions[name]
        async with self._locks[name]:
            if not await self._hold(subscription):
                raise SubscriptionBusy(f"subscription {name!r} is run by another process")
            if after == 0 and subscription.reset is not None:
                await subscription.reset()
            await self._advance(name, after)
            return await self._catch_up(subscription, progress)

    async def _catch_up(self, subscription: Subscription, progress: Progress | None) -> int:
        name = subscription.name
        target = await self.store.last_position()
        read = 0
        while self.positions[name] < target:
            handled = await self._handle_batch(subscription)
            if not handled:
                break
            read += handled
            if progress is not None:
                progress(self.positions[name], target)
        if not self._tasks:
            await self._let_go(name)
        return read

    async def _consume(self, subscription: Subscription) -> None:
        name = subscription.name
        while True:
            seen = self.notifier.generation
            try:
                async with self._locks[name]:
                    if not await self._hold(subscription):
                        worked = 0
                    else:
                        worked = await self._redrive(subscription)
                        worked += await self._handle_batch(subscription)
            except Exception:
                logger.warning("subscription %s: cycle failed; retrying", name, exc_info=True)
                await asyncio.sleep(self.error_delay)
                continue
            if worked < self.batch_size:
                await self.notifier.wait(seen, self.poll_interval)
            else:  # more to do: let others run first (database calls may not suspend)
                await asyncio.sleep(0)

    async def _hold(self, subscription: Subscription) -> bool:
        """Make sure this runner holds the lease of ``subscription``; False if another does."""
        name = subscription.name
        renew_at = self._renew_at.get(name)
        if renew_at is not None and time.monotonic() < renew_at:
            return True
        if renew_at is None:
            start = 0
            if subscription.start == "end":
                start = await self.store.last_position()
            await self.checkpoints.ensure(name, start)
        if not await self.checkpoints.claim(name):
            self._renew_at.pop(name, None)
            return False
        if renew_at is None:
            state = await self.checkpoints.state(name)
            assert state is not None
            self.positions[name] = state.position
        self._renew_at[name] = time.monotonic() + self.lease / 3
        return True

    async def _let_go(self, name: str) -> None:
        self._renew_at.pop(name, None)
        await self.checkpoints.release(name)

    async def _advance(self, name: str, position: int) -> None:
        if not await self.checkpoints.advance(name, position):
            self._renew_at.pop(name, None)
            raise SubscriptionBusy(f"subscription {name!r}: lease lost to another process")
        self.positions[name] = position
        self._renew_at[name] = time.monotonic() + self.lease / 3

    async def _handle_batch(self, subscription: Subscription) -> int:
        name = subscription.name
        batch = await self.store.read(after=self.positions[name], limit=self.batch_size)
        if not batch:
            return 0
        for records in subscription.deliveries(work_order(batch, subscription)):
            if not await self._hold(subscription):  # renews the lease when it is due
                raise SubscriptionBusy(f"subscription {name!r}: lease lost mid-batch")
            await self._deliver(subscription, records)
        await self._advance(name, batch[-1].position)
        return len(batch)

    async def _redrive(self, subscription: Subscription) -> int:
        due = await self.dead_letters.due_for_redrive(subscription.name)
        for dead_letter in due:
            await self._redrive_one(subscription, dead_letter)
        return len(due)

    async def _redrive_one(self, subscription: Subscription, dead_letter: DeadLetter) -> None:
        record = await self.store.get(dead_letter.position)
        if record is None:  # nothing left to deliver: close the letter, or it stays due forever
            logger.warning(
                "subscription %s: dead letter %s names a missing event at %s; resolved",
                subscription.name,
                dead_letter.id,
                dead_letter.position,
            )
            await self.dead_letters.resolve(dead_letter.id)
            return
        if await self._deliver(subscription, [record]):
            await self.dead_letters.resolve(dead_letter.id)
            self.stats.redriven += 1

    async def _deliver(self, subscription: Subscription, records: list[StoredEvent]) -> bool:
        """Run the handler of ``records`` (one call, see ``Subscription.deliveries``) with
        retries; dead-letter each of them after the last failure.

        The handler runs in the context of the last event, caused by it.
        """
        retry = subscription.retry
        record = records[-1]
        context = record.context.with_changes(
            causation_id=str(record.event_id), occurred_at=utcnow()
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                with use_context(context):
                    await subscription.handle(records)
            except Exception as error:
                self.stats.failed += 1
                if attempt >= retry.max_attempts:
                    logger.error(
                        "subscription %s: event %s (%s) failed %d times; dead-lettered",
                        subscription.name,
                        ", ".join(str(r.position) for r in records),
                        record.event_type,
                        attempt,
                        exc_info=error,
                    )
                    for failed in records:
                        await self.dead_letters.record(
                            subscription.name,
                            failed.position,
                            failed.event_type,
                            attempt,
                            describe(error),
                        )
                    self.stats.dead_lettered += len(records)
                    return False
                logger.warning(
                    "subscription %s: event %s (%s) failed (attempt %d of %d): %s",
                    subscription.name,
                    record.position,
                    record.event_type,
                    attempt,
                    retry.max_attempts,
                    error,
                )
                await asyncio.sleep(retry.delay(attempt))
                if not await self._hold(subscription):
                    raise SubscriptionBusy(
                        f"subscription {subscription.name!r}: lease lost while retrying"
                    ) from error
            else:
                self.stats.delivered += len(records)
                return True


def work_order(batch: Sequence[StoredEvent], subscription: Subscription) -> list[StoredEvent]:
    """The events of ``batch`` that ``subscription`` handles, in the order to handle them.

    Streams are ordered by the highest priority waiting in them (ties: the
    earliest position); each stream's events stay in log order.
    """
    streams: dict[str, list[StoredEvent]] = {}
    for record in batch:
        if subscription.wants(record):
            streams.setdefault(record.stream_id, []).append(record)
    ordered = sorted(
        streams.values(), key=lambda events: (-max(e.priority for e in events), events[0].position)
    )
    return [record for events in ordered for record in events]


def describe(error: BaseException) -> str:
    """The exception and its last frames, for a dead letter."""
    return "".join(traceback.format_exception(error, limit=-3)).strip()
