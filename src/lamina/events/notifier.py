"""Wake event readers when new events may have been committed.

Three sources, from fastest to slowest:

* commits in this process (``Database.on_events_committed``), on every database;
* on PostgreSQL, ``LISTEN lamina_events`` on a dedicated connection: the
  appending transaction sends one tiny ``NOTIFY`` (see
  :data:`lamina.persistence.unit_of_work.EVENTS_CHANNEL`), which reaches every
  process. The connection is re-opened, with backoff, when it drops; readers
  are woken on reconnect to catch up on what was missed meanwhile;
* polling: :meth:`EventNotifier.wait` returns after its timeout anyway.

A lost notification therefore only delays a reader; the events table stays the
source of truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lamina.events.tasks import cancel_and_wait
from lamina.persistence.database import Database
from lamina.persistence.unit_of_work import EVENTS_CHANNEL

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger("lamina.events")

LISTENER_APPLICATION_NAME = "lamina-event-listener"
"""The ``application_name`` of listening connections (as shown in ``pg_stat_activity``)."""


class EventNotifier:
    """A wake-up signal for event readers, shared by every reader of one database in a process.

    Readers remember :attr:`generation` before reading and, having found nothing
    new, call ``await notifier.wait(seen, max_wait)``: it returns at once if a
    signal came in meanwhile, so no wake-up is lost between the read and the wait.

    ``listen`` (PostgreSQL only) turns the cross-process ``LISTEN`` on;
    ``keepalive`` is how often an idle listening connection is checked.
    """

    def __init__(
        self,
        db: Database,
        *,
        listen: bool = True,
        keepalive: float = 30.0,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 10.0,
    ) -> None:
        self.db = db
        self.listen = listen and db.dialect_name == "postgresql"
        self.keepalive = keepalive
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.generation = 0
        self.listening = False
        """True while the PostgreSQL ``LISTEN`` connection is up."""
        self.reconnects = 0
        self._waiters: set[asyncio.Future[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._unhook: Callable[[], None] | None = None
        self._connected = asyncio.Event()

    async def __aenter__(self) -> EventNotifier:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    async def start(self) -> None:
        """Hook into this process's commits and, on PostgreSQL, start listening."""
        if self._running:
            return
        self._running = True
        if self._unhook is None:
            self._unhook = self.db.on_events_committed(self._on_commit)
        if self.listen:
            self._connected = asyncio.Event()
            self._task = asyncio.create_task(self._listen_forever(), name="lamina-event-listen")

    async def wait_until_listening(self, max_wait: float = 5.0) -> None:
        """Return once the ``LISTEN`` connection is up (at once when not listening)."""
        if self.listen and self._running:
            async with asyncio.timeout(max_wait):
                await self._connected.wait()

    async def stop(self) -> None:
        """Stop listening and release every waiter."""
        self._running = False
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        self.notify()

    def notify(self) -> None:
        """Signal that new events may exist: wake every waiter."""
        self.generation += 1
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, seen: int, max_wait: float) -> int:
        """Wait until :attr:`generation` differs from ``seen``, at most ``max_wait`` seconds.

        Returns the generation now current (equal to ``seen`` after a timeout).
        A stopped notifier only sleeps ``max_wait``: readers fall back to polling.
        """
        if self.generation != seen:
            return self.generation
        if not self._running:
            await asyncio.sleep(max_wait)
            return self.generation
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(max_wait):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)
        return self.generation

    def _on_commit(self, count: int) -> None:
        if self._running:
            self.notify()

    def _on_notification(self, *args: Any) -> None:
        self.notify()

    async def _listen_forever(self) -> None:
        import asyncpg  # only here, on PostgreSQL: an application on SQLite runs without it

        delay = self.reconnect_delay
        dsn = self.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while self._running:
            try:
                conn = await asyncpg.connect(
                    dsn,
                    timeout=self.max_reconnect_delay,
                    server_settings={"application_name": LISTENER_APPLICATION_NAME},
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                logger.warning("cannot listen for events (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_delay)
                continue
            delay = self.reconnect_delay
            try:
                await self._serve(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                logger.warning("event listener connection lost (%s); reconnecting", error)
            finally:
                self.listening = False
                self._connected.clear()
                if not conn.is_closed():
                    conn.terminate()
            if self._running:
                self.reconnects += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_delay)

    async def _serve(self, conn: asyncpg.Connection) -> None:
        closed = asyncio.Event()
        conn.add_termination_listener(lambda _conn: closed.set())
        await conn.add_listener(EVENTS_CHANNEL, self._on_notification)
        self.listening = True
        self._connected.set()
        self.notify()  # whatever was committed while we were not listening
        while not closed.is_set():
            try:
                async with asyncio.timeout(self.keepalive):
                    await closed.wait()
            except TimeoutError:
                async with asyncio.timeout(self.max_reconnect_delay):
                    await conn.fetchval("SELECT 1")
        raise ConnectionError("the listening connection was closed")
