"""Live streams held by the load test's people: opened, read, closed and resumed, as browsers do.

A :class:`Watcher` is one browser tab of one person. It connects with
``Last-Event-ID`` (the log position it starts after, so what it must receive is
exactly known), reads for a few seconds, disconnects, then resumes where it
stopped (or, sometimes, starts afresh from the current position). A server
that finds it slow sends ``event: resume`` and hangs up; it resumes then too.
Each connection is a :class:`Segment`. When the run stops, every watcher stays
connected until the closing fence event arrives: from the segments the checks
tell whether it received every event it may see, in order, once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from benchmarks.load.http import EventStream
from benchmarks.load.population import Person
from benchmarks.load.tally import Tally

LIFETIME = (3.0, 12.0)
"""Seconds a connection stays open before its tab closes it (uniformly drawn)."""
FRESH_START = 0.25
"""Chance that a tab starts afresh from the current position instead of resuming."""


@dataclass
class Segment:
    """One connection: the position it started after, and the positions it received."""

    after: int
    received: list[int] = field(default_factory=list)
    ended_by: str = "open"
    """``closed`` (by the client), ``resume`` (slow, told to resume), ``server`` or ``fence``."""


class Watcher:
    """One tab of ``person`` reading ``/events`` (see the module's docstring)."""

    def __init__(
        self,
        person: Person,
        port: int,
        tally: Tally,
        position: Callable[[], Awaitable[int]],
        seed: int,
    ) -> None:
        self.person = person
        self.port = port
        self.tally = tally
        self.position = position
        self.rng = random.Random(seed)
        self.segments: list[Segment] = []
        self.holding = False
        """Set when the run stops: no more disconnects, wait for the fence."""
        self.fence: int | None = None
        self._nudge = asyncio.Event()

    def hold(self) -> None:
        """Stop closing connections: stay until the fence (see :meth:`expect_fence`)."""
        self.holding = True
        self._nudge.set()

    def expect_fence(self, position: int) -> None:
        """Finish once the event at ``position`` (the last of the run) has arrived."""
        self.fence = position
        self._nudge.set()

    @property
    def done(self) -> bool:
        return bool(self.segments) and self.segments[-1].ended_by == "fence"

    async def run(self) -> None:
        after = await self.position()
        while not self.done:
            segment = Segment(after)
            self.segments.append(segment)
            await self._connect(segment)
            if segment.ended_by in ("closed", "resume", "server") and not self.holding:
                await asyncio.sleep(self.rng.uniform(0, 0.5))
            resume = segment.received[-1] if segment.received else segment.after
            fresh = segment.ended_by == "closed" and self.rng.random() < FRESH_START
            after = await self.position() if fresh and not self.holding else resume

    async def _connect(self, segment: Segment) -> None:
        stream = EventStream("127.0.0.1", self.port, self.person.token, segment.after)
        started = time.perf_counter()
        try:
            status = await stream.open()
        except (ConnectionError, OSError) as exc:
            self.tally.record(
                "GET /events (open)", 0, time.perf_counter() - started, (200,), repr(exc)
            )
            segment.ended_by = "server"
            return
        ok = self.tally.record("GET /events (open)", status, time.perf_counter() - started, (200,))
        if not ok:
            segment.ended_by = "server"
            await stream.close()
            await asyncio.sleep(0.5)
            return
        reader = asyncio.create_task(self._read(stream, segment))
        deadline = time.monotonic() + self.rng.uniform(*LIFETIME)
        try:
            while not reader.done():
                self._nudge.clear()
                if self._fence_reached(segment):
                    segment.ended_by = "fence"
                    break
                left = None if self.holding else deadline - time.monotonic()
                if left is not None and left <= 0:
                    segment.ended_by = "closed"
                    break
                nudged = asyncio.create_task(self._nudge.wait())
                await asyncio.wait({reader, nudged}, timeout=left, return_when="FIRST_COMPLETED")
                nudged.cancel()
        finally:
            reader.cancel()
            await asyncio.wait([reader])
            await stream.close()

    def _fence_reached(self, segment: Segment) -> bool:
        return (
            self.fence is not None and bool(segment.received) and segment.received[-1] >= self.fence
        )

    async def _read(self, stream: EventStream, segment: Segment) -> None:
        try:
            async for event in stream.events():
                if event.type == "resume":
                    segment.ended_by = "resume"
                    told = json.loads(event.data)["last_event_id"]
                    if segment.received and told != segment.received[-1]:
                        self.tally.wrong_answer(
                            "GET /events", f"resume at {told}, not at the last id"
                        )
                    return
                if event.id is not None:
                    segment.received.append(event.id)
                    if self._fence_reached(segment):
                        segment.ended_by = "fence"
                        return
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        if segment.ended_by == "open":
            segment.ended_by = "server"
