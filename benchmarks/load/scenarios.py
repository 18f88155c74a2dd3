"""The two workloads of a load run, each a warm-up, a measured window and a closing fence.

* **hot**: every client posts into one conversation, back to back (the case
  that used to deadlock on PostgreSQL), while a few of its people watch the
  stream;
* **mixed**: many people post into shared and private conversations, read
  pages, invite, accept and leave, while hundreds of tabs open, close and
  resume their streams.

When the window closes the clients stop, the workspace's owner makes one last
event (the fence), and every tab reads until it arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

import psutil
from examples.chat.repositories import Conversations

from benchmarks.load.clients import Client, Newcomer, hot_poster, mixed_client
from benchmarks.load.population import Person, Population
from benchmarks.load.streams import Watcher
from benchmarks.load.tally import Ledger, Tally
from lamina.events import EventStore
from lamina.persistence import Database

FENCE_WAIT = 60.0
"""Seconds every tab has to receive the fence once the clients stopped."""


@dataclass(frozen=True)
class Shape:
    """How long and how wide a run is."""

    warmup: float
    seconds: float
    hot_clients: int
    hot_streams: int
    clients: int
    streams: int
    seed: int


@dataclass(frozen=True)
class Stage:
    """What a workload runs against: the database (for the checks), the service, the people."""

    db: Database
    port: int
    server: psutil.Process
    people: Population
    ledger: Ledger
    shape: Shape


@dataclass
class Outcome:
    """What one workload did and what its clients saw."""

    name: str
    clients: int
    tally: Tally
    watchers: list[Watcher]
    newcomers: list[Newcomer] = field(default_factory=list)
    fence: int = 0
    since: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    stopped: float = 0.0
    """When the clients stopped (``time.monotonic``)."""
    notes: list[str] = field(default_factory=list)


Worker = Callable[[Tally, float], Awaitable[None]]


async def _fence(owner: Person, port: int, tally: Tally) -> None:
    """One last event every member sees: the owner edits the workspace's description."""
    client = Client(owner, port, tally)
    path = f"/workspaces/{owner.workspace_id}"
    current = await client.call("GET /workspaces/{id} (fence)", "GET", path, (200,))
    if current is not None:
        await client.call(
            "PATCH /workspaces/{id} (fence)",
            "PATCH",
            path,
            (200,),
            body={"description": f"fence at {time.time()}"},
            headers={"If-Match": current.headers["etag"]},
        )
    await client.connection.close()


def _cpu_seconds(server: psutil.Process) -> float:
    total = 0.0
    for process in (server, *server.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def _run(outcome: Outcome, stage: Stage, owner: Person, workers: list[Worker]) -> Outcome:
    db, port, server, shape = stage.db, stage.port, stage.server, stage.shape
    store = EventStore(db)
    outcome.since = await store.last_position()
    tally = outcome.tally
    tasks = [asyncio.create_task(w.run()) for w in outcome.watchers]
    server_cpu, own_cpu = _cpu_seconds(server), time.process_time()
    until = time.monotonic() + shape.warmup + shape.seconds
    clients = [asyncio.create_task(work(tally, until)) for work in workers]
    await asyncio.sleep(shape.warmup)
    tally.measuring, opened = True, time.monotonic()
    await asyncio.gather(*clients)
    outcome.stopped = time.monotonic()
    tally.measuring, tally.window = False, outcome.stopped - opened
    outcome.cpu = {
        "server (all workers)": _cpu_seconds(server) - server_cpu,
        "load generator": time.process_time() - own_cpu,
    }
    for watcher in outcome.watchers:
        watcher.hold()
    await _fence(owner, port, tally)
    outcome.fence = await store.last_position()
    for watcher in outcome.watchers:
        watcher.expect_fence(outcome.fence)
    _, pending = await asyncio.wait(tasks, timeout=FENCE_WAIT)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return outcome


def _position(db: Database) -> Callable[[], Awaitable[int]]:
    store = EventStore(db)
    return store.last_position


async def hot(stage: Stage) -> Outcome:
    """Every hot client posts into the one conversation."""
    db, port, people, ledger, shape = stage.db, stage.port, stage.people, stage.ledger, stage.shape
    tally = Tally()
    watchers = [
        Watcher(people.hot[n % len(people.hot)], port, tally, _position(db), shape.seed + n)
        for n in range(shape.hot_streams)
    ]

    def poster(person: Person) -> Worker:
        async def work(tally: Tally, until: float) -> None:
            client = Client(person, port, tally)
            await hot_poster(client, people.hot_conversation, ledger, until)
            await client.connection.close()

        return work

    outcome = Outcome("hot: one conversation", len(people.hot), tally, watchers)
    owner = people.hot[0]
    await _run(outcome, stage, owner, [poster(p) for p in people.hot])
    lag = await _activity_lag(db, people.hot_conversation, outcome.stopped)
    outcome.notes.append(f"last_activity_at caught up {lag * 1000:.0f} ms after the last post")
    return outcome


async def _activity_lag(db: Database, conversation_id: UUID, stopped: float) -> float:
    """Seconds from ``stopped`` until the conversation's activity marker shows its last post."""
    events = await EventStore(db).read_stream(str(conversation_id))
    newest = max(e.recorded_at for e in events if e.event_type == "message.posted")
    conversations = Conversations(db)
    while True:
        if (await conversations.get(conversation_id)).last_activity_at == newest:
            return time.monotonic() - stopped
        await asyncio.sleep(0.005)


async def mixed(stage: Stage) -> Outcome:
    """The mixed workload (see the module's docstring)."""
    db, port, people, ledger, shape = stage.db, stage.port, stage.people, stage.ledger, stage.shape
    tally = Tally()
    holders = [m.person for m in people.mixed]
    watchers = [
        Watcher(holders[n % len(holders)], port, tally, _position(db), shape.seed + 1000 + n)
        for n in range(shape.streams)
    ]
    newcomers = [Newcomer(m) for m in people.mixed]

    def worker(n: int) -> Worker:
        async def work(tally: Tally, until: float) -> None:
            client = Client(people.mixed[n].person, port, tally)
            seed = shape.seed + n
            await mixed_client(client, people.mixed[n], newcomers[n], ledger, seed, until)
            await client.connection.close()

        return work

    outcome = Outcome(
        "mixed: posts, pages, invitations, streams", len(holders), tally, watchers, newcomers
    )
    workers = [worker(n) for n in range(len(people.mixed))]
    return await _run(outcome, stage, holders[0], workers)
