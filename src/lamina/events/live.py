"""Live delivery of the event log to many clients: fan-out, resume, bounded buffers, registry.

Transport-neutral (the SSE endpoint in :mod:`lamina.api.sse` is built on it):

* one :class:`~lamina.events.feed.EventFeed` per hub reads the log; each new
  event is rendered once and pushed to every live connection allowed to see it;
* a connection resuming after position P first replays the missed events from
  the store, then switches to live delivery without gap or duplicate: the
  switch happens only once its cursor has reached the feed's position, and
  live events at or below its cursor are skipped;
* each connection buffers at most ``max_buffer`` events (G14). When a push
  would exceed that, the buffer is dropped, the connection is marked
  ``overflowed`` and leaves the fan-out: its transport sends a final "resume"
  message and closes. Memory per connection stays bounded whatever the client
  does. The feed hands over at most ``max_buffer`` events per read, and every
  connection's sender runs while the feed waits for its next read, so a burst
  alone never overflows a client that keeps reading: only one whose writes are
  stuck does;
* a registry of open connections (user, connected since, last event id,
  events sent) and counters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from lamina.domain.entity import utcnow
from lamina.domain.ids import uuid7
from lamina.events.feed import EventFeed
from lamina.events.store import EventStore
from lamina.events.stored import StoredEvent
from lamina.persistence.database import Database

logger = logging.getLogger("lamina.events")

Authorize = Callable[[Any, StoredEvent], bool]
"""``authorize(user, event)``: may this user see this event? Called once per event and
connection, in the fan-out loop: keep it fast and free of I/O."""

Render = Callable[[StoredEvent], bytes]
"""Turns an event into the bytes a transport sends (called once per event)."""

Frame = tuple[int, bytes]
"""A rendered event: its position and bytes."""


@dataclass(frozen=True, slots=True)
class Credential:
    """What a connection was opened with: a key to check it by (say, the digest of an access
    token) and when it expires. A connection ends when its credential expires or is revoked."""

    key: str
    expires_at: datetime | None = None


class TooManyConnections(Exception):
    """The user already holds as many connections as a hub allows one user."""


@dataclass
class LiveStats:
    """Counters of one hub."""

    connections_open: int = 0
    connections_total: int = 0
    events_sent: int = 0
    heartbeats_sent: int = 0
    slow_disconnects: int = 0
    """Connections dropped because their buffer filled up (or a send stalled)."""


class ConnectionInfo(BaseModel):
    """What the registry shows about one open connection."""

    model_config = ConfigDict(frozen=True)

    id: str
    user: str
    connected_at: datetime
    last_event_id: int | None
    events_sent: int
    buffered: int


class LiveConnection:
    """One client's live delivery: a cursor, a bounded buffer and its counters."""

    def __init__(
        self,
        user: Any,
        user_label: str,
        authorize: Authorize,
        cursor: int,
        max_buffer: int,
        credential: Credential | None = None,
    ) -> None:
        self.id = str(uuid7())
        self.user = user
        self.user_label = user_label
        self.authorize = authorize
        self.credential = credential
        self.ended: str | None = None
        """Why the server ended the connection (``revoked``, ``expired``...), if it did."""
        self.connected_at = utcnow()
        self.cursor = cursor
        """Every event at or below this position was delivered, filtered out or skipped."""
        self.last_event_id: int | None = None
        self.events_sent = 0
        self.overflowed = False
        self.dropped = False
        self.closed = False
        self.max_buffer = max_buffer
        self._frames: deque[Frame] = deque()
        self._wake = asyncio.Event()

    @property
    def buffered(self) -> int:
        """Events waiting to be sent."""
        return len(self._frames)

    def allows(self, event: StoredEvent) -> bool:
        """The authorization predicate; an exception counts as "no"."""
        try:
            return bool(self.authorize(self.user, event))
        except Exception:
            logger.exception("authorization predicate failed for event %s", event.position)
            return False

    def push(self, frame: Frame) -> bool:
        """Buffer one frame; False (and the buffer dropped) when it is full."""
        if len(self._frames) >= self.max_buffer:
            self._frames.clear()
            self.overflowed = True
            self._wake.set()
            return False
        self._frames.append(frame)
        self._wake.set()
        return True

    def close(self) -> None:
        """End delivery (client gone or server stopping)."""
        self.closed = True
        self._wake.set()

    def end(self, reason: str) -> None:
        """End delivery for ``reason``, which the transport tells the client."""
        if self.ended is None:
            self.ended = reason
        self.close()

    async def next_frames(self, max_wait: float) -> list[Frame]:
        """The buffered frames, waiting up to ``max_wait`` seconds for some; [] if none came.

        Returns at once, possibly with [], when the connection is closed or overflowed.
        """
        if not self._frames and not self.closed and not self.overflowed:
            self._wake.clear()
            try:
                async with asyncio.timeout(max_wait):
                    await self._wake.wait()
            except TimeoutError:
                return []
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def info(self) -> ConnectionInfo:
        """A snapshot for the registry."""
        return ConnectionInfo(
            id=self.id,
            user=self.user_label,
            connected_at=self.connected_at,
            last_event_id=self.last_event_id,
            events_sent=self.events_sent,
            buffered=self.buffered,
        )


class LiveHub:
    """Fans the event log of ``db`` out to live connections; see the module docs.

    ``feed`` may be shared with other hubs (then the caller starts and stops
    it; its ``batch_size`` must not exceed ``max_buffer``); by default the hub
    makes its own, started with the first connection.
    """

    def __init__(
        self,
        db: Database,
        render: Render,
        *,
        feed: EventFeed | None = None,
        max_buffer: int = 256,
        replay_batch: int = 500,
        max_per_user: int | None = None,
    ) -> None:
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        if max_per_user is not None and max_per_user < 1:
            raise ValueError("max_per_user must be at least 1")
        self.db = db
        self.render = render
        self.feed = feed if feed is not None else EventFeed(db, batch_size=max_buffer)
        if self.feed.batch_size > max_buffer:
            raise ValueError(
                f"the feed reads {self.feed.batch_size} events at a time, more than "
                f"max_buffer={max_buffer}: a burst would drop clients that keep up"
            )
        self._owns_feed = feed is None
        self.max_buffer = max_buffer
        self.replay_batch = replay_batch
        self.max_per_user = max_per_user
        self.store = EventStore(db)
        self.stats = LiveStats()
        self._open: dict[str, LiveConnection] = {}
        self._live: dict[str, LiveConnection] = {}
        self._per_user: Counter[str] = Counter()
        self._unsubscribe: Callable[[], None] | None = None

    def connections(self) -> list[ConnectionInfo]:
        """The open connections, oldest first."""
        return [conn.info() for conn in self._open.values()]

    def open_connections(self) -> list[LiveConnection]:
        """The open connections themselves (for what ends them: credential checks, shutdown)."""
        return list(self._open.values())

    async def open(
        self,
        user: Any,
        *,
        authorize: Authorize,
        after: int | None,
        user_label: str | None = None,
        credential: Credential | None = None,
    ) -> LiveConnection:
        """Register a connection of ``user`` resuming after ``after`` (None: live only).

        Raises :class:`TooManyConnections` when the user (by label) already
        holds ``max_per_user`` of this hub's connections.
        """
        label = user_label if user_label is not None else str(user)
        held = self._per_user[label]
        if self.max_per_user is not None and held >= self.max_per_user:
            raise TooManyConnections(f"{label} holds {held} connections already")
        if self._unsubscribe is None:
            self._unsubscribe = self.feed.subscribe(self._dispatch)
        if not self.feed.running:
            await self.feed.start()
        cursor = self.feed.position if after is None else after
        conn = LiveConnection(user, label, authorize, cursor, self.max_buffer, credential)
        self._open[conn.id] = conn
        self._per_user[label] += 1
        self.stats.connections_open += 1
        self.stats.connections_total += 1
        return conn

    async def replay(self, conn: LiveConnection) -> AsyncGenerator[list[Frame], None]:
        """Yield the missed events of ``conn`` in chunks, then switch it to live delivery."""
        while not conn.closed:
            target = self.feed.position
            if conn.cursor >= target:
                # no await since the check: every later dispatch is above ``target``
                self._live[conn.id] = conn
                return
            events = await self.store.read(after=conn.cursor, limit=self.replay_batch)
            if not events:
                conn.cursor = max(conn.cursor, target)
                continue
            frames = [
                (e.position, frame)
                for e in events
                if conn.allows(e) and (frame := self._render(e)) is not None
            ]
            conn.cursor = events[-1].position
            if frames:
                yield frames

    def sent(self, conn: LiveConnection, frames: Sequence[Frame]) -> None:
        """Record that ``frames`` reached the transport."""
        if frames:
            conn.events_sent += len(frames)
            conn.last_event_id = frames[-1][0]
            self.stats.events_sent += len(frames)

    def heartbeat_sent(self) -> None:
        """Record one heartbeat."""
        self.stats.heartbeats_sent += 1

    def drop_slow(self, conn: LiveConnection) -> None:
        """Take ``conn`` out of the fan-out for not keeping up (counted once)."""
        self._live.pop(conn.id, None)
        if not conn.dropped:
            conn.dropped = True
            conn.overflowed = True
            self.stats.slow_disconnects += 1

    def close(self, conn: LiveConnection) -> None:
        """Forget ``conn`` (idempotent)."""
        conn.close()
        self._live.pop(conn.id, None)
        if self._open.pop(conn.id, None) is not None:
            self.stats.connections_open -= 1
            self._per_user[conn.user_label] -= 1
            if not self._per_user[conn.user_label]:
                del self._per_user[conn.user_label]

    async def stop(self) -> None:
        """Close every connection; stop the feed if this hub made it."""
        for conn in list(self._open.values()):
            conn.close()
        self._live.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._owns_feed:
            await self.feed.stop()

    def _dispatch(self, batch: Sequence[StoredEvent]) -> None:
        if not self._live:
            return
        targets = list(self._live.values())
        for event in batch:
            frame: bytes | None = None
            unrenderable = False
            for conn in targets:
                if event.position <= conn.cursor or conn.overflowed:
                    continue
                conn.cursor = event.position
                # Every connection's authorizer sees every event (it may keep state),
                # even when the event cannot be rendered for anyone.
                if not conn.allows(event) or unrenderable:
                    continue
                if frame is None:
                    frame = self._render(event)
                    if frame is None:
                        unrenderable = True
                        continue
                if not conn.push((event.position, frame)):
                    self.drop_slow(conn)

    def _render(self, event: StoredEvent) -> bytes | None:
        try:
            return self.render(event)
        except Exception:
            logger.exception("could not render event %s for live delivery", event.position)
            return None
