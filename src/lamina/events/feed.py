"""One tailing reader per process: follows the log and hands each new batch to its listeners.

Live streams fan out from a feed, so a thousand open connections cost one
database read per wake-up, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lamina.events.notifier import EventNotifier
from lamina.events.store import EventStore
from lamina.events.stored import StoredEvent
from lamina.events.tasks import cancel_and_wait
from lamina.persistence.database import Database

logger = logging.getLogger("lamina.events")

FeedListener = Callable[[Sequence[StoredEvent]], None]
"""Called with each new batch, in position order. Must not block: it runs in the read loop."""


@dataclass
class FeedStats:
    """What a feed has done."""

    reads: int = 0
    events_read: int = 0
    errors: int = 0


class EventFeed:
    """Follows the event log from the position it starts at (the end, by default).

    Listeners are plain functions called with each batch; :attr:`position` is
    the last position handed to them, updated right after they return (no
    ``await`` in between, so a listener added later knows exactly where live
    delivery begins). Wake-ups come from ``notifier``; ``poll_interval``
    bounds the delay when a notification is lost.
    """

    def __init__(
        self,
        db: Database,
        *,
        notifier: EventNotifier | None = None,
        batch_size: int = 256,
        poll_interval: float = 1.0,
        error_delay: float = 1.0,
    ) -> None:
        self.db = db
        self.store = EventStore(db)
        self.notifier = notifier if notifier is not None else EventNotifier(db)
        self._owns_notifier = notifier is None
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.error_delay = error_delay
        self.position = 0
        self.stats = FeedStats()
        self._listeners: list[FeedListener] = []
        self._task: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        """True while the read loop runs."""
        return self._task is not None and not self._task.done()

    def subscribe(self, listener: FeedListener) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it again."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    async def start(self, *, after: int | None = None) -> None:
        """Start following after ``after`` (default: the current end of the log)."""
        async with self._start_lock:
            if self.running:
                return
            await self.notifier.start()
            self.position = after if after is not None else await self.store.last_position()
            self._task = asyncio.create_task(self._follow(), name="lamina-event-feed")

    async def stop(self) -> None:
        """Stop following (and stop the notifier if the feed created it)."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        if self._owns_notifier:
            await self.notifier.stop()

    async def _follow(self) -> None:
        while True:
            seen = self.notifier.generation
            try:
                batch = await self.store.read(after=self.position, limit=self.batch_size)
            except Exception:
                self.stats.errors += 1
                logger.warning("event feed could not read the log; retrying", exc_info=True)
                await asyncio.sleep(self.error_delay)
                continue
            self.stats.reads += 1
            if batch:
                self.stats.events_read += len(batch)
                self._dispatch(batch)
                if len(batch) == self.batch_size:
                    # More to read: first let the listeners' consumers run (a read may end
                    # without suspending, as one on SQLite's caller thread does).
                    await asyncio.sleep(0)
                    continue
            await self.notifier.wait(seen, self.poll_interval)

    def _dispatch(self, batch: Sequence[StoredEvent]) -> None:
        for listener in list(self._listeners):
            try:
                listener(batch)
            except Exception:
                logger.exception("event feed listener %r failed", listener)
        self.position = batch[-1].position
