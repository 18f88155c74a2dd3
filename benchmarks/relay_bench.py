"""Relay benchmark on PostgreSQL: throughput to NATS JetStream and commit → consumer latency.

Usage (from the project root)::

    .venv/bin/python -m benchmarks.relay_bench [--quick] [--database-url URL] [--nats URL]

PostgreSQL comes from ``--database-url``, else ``LAMINA_BENCH_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); lamina's tables are created
there if missing. NATS (JetStream enabled) from ``--nats``, else ``LAMINA_BENCH_NATS_URL``
(default ``nats://127.0.0.1:4222``). Each run uses a stream of its own and deletes it.

* **throughput**: 20,000 events are appended (8 writers, 100 per transaction), then an
  :class:`~lamina.events.EventRelay` publishes them; events per second until its
  checkpoint covers the last one (every batch acknowledged by JetStream).
* **latency**: events are committed at a steady rate (500/s; ``--per-commit`` events per
  transaction, default 1, commits overlapping when one takes longer than the interval)
  while the relay runs and a :class:`~lamina.events.StreamConsumer` follows the stream;
  for each event, the time from its ``recorded_at`` (stamped in the committing
  transaction) to its handler call in the consumer: p50, p99, max.

Targets: at least 5,000 events/s, p99 under 100 ms at 500 events/s.
The markdown report goes to stdout, the figures to ``benchmarks/results/relay.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats
from nats.js.errors import NotFoundError

from lamina.domain import DomainEvent
from lamina.domain.entity import utcnow
from lamina.events import EventRelay, EventStore, StoredEvent, StreamConsumer, Subscription
from lamina.persistence import Database, PoolOptions

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
RESULTS = Path(__file__).resolve().parent / "results" / "relay.json"


class Relayed(DomainEvent, type="bench.relayed", stream="channel"):
    """The benchmark's event: a small payload, like most domain events."""

    channel: str
    n: int
    note: str = "benchmark event with a modest payload"


def say(message: str) -> None:
    """Progress, on stderr so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


async def append(db: Database, writers: int, events: int, per_transaction: int) -> None:
    share = events // writers

    async def writer(number: int) -> None:
        for start in range(0, share, per_transaction):
            async with db.unit_of_work() as uow:
                for n in range(start, min(start + per_transaction, share)):
                    uow.publish(Relayed(channel=f"w{number}-{n % 50}", n=n))

    await asyncio.gather(*(writer(i) for i in range(writers)))


async def wait_until(relay: EventRelay, position: int, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while relay.stats.position < position:
        if time.monotonic() > deadline:
            raise TimeoutError(f"relay stuck at {relay.stats.position}, target {position}")
        await asyncio.sleep(0.002)


async def throughput(db: Database, nats_url: str, events: int) -> dict[str, Any]:
    stream = f"BENCH{uuid4().hex[:8].upper()}"
    store = EventStore(db)
    start = await store.last_position()
    say(f"throughput: appending {events} events")
    await append(db, 8, events, 100)
    target = await store.last_position()
    relay = EventRelay(db, nats_url, stream=stream, subject_prefix=stream.lower(), lease=30)
    try:
        await relay.reset(start)
        say("throughput: relaying")
        started = time.perf_counter()
        async with relay:
            await wait_until(relay, target)
            seconds = time.perf_counter() - started
    finally:
        await delete_streams(nats_url, stream)
    return {
        "events": relay.stats.published,
        "seconds": round(seconds, 3),
        "events_per_second": round(relay.stats.published / seconds),
    }


async def latency(
    db: Database, nats_url: str, rate: float, seconds: float, per_commit: int
) -> dict[str, Any]:
    stream = f"BENCH{uuid4().hex[:8].upper()}"
    prefix = stream.lower()
    delays: list[float] = []
    total = int(rate * seconds)
    subscription = Subscription("bench-latency", start="end")

    @subscription.handles(Relayed)
    async def measure(event: Relayed, record: StoredEvent) -> None:
        delays.append((utcnow() - record.recorded_at).total_seconds())

    relay = EventRelay(db, nats_url, stream=stream, subject_prefix=prefix, lease=30, batch_size=500)
    consumer = StreamConsumer(
        nats_url, subscription, stream=stream, subject_prefix=prefix, fetch_wait=0.5
    )
    try:
        await relay.reset(await EventStore(db).last_position())
        async with relay, consumer:
            await asyncio.sleep(1.5)  # the stream and the durable consumer exist
            say(f"latency: {total} events at {rate:.0f}/s")
            achieved = await steady_commits(db, total, rate, per_commit)
            deadline = time.monotonic() + 30
            while len(delays) < total and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await delete_streams(nats_url, stream, f"{stream}_DEAD_LETTERS")
    ordered = sorted(delays)
    return {
        "events": total,
        "received": len(delays),
        "rate_per_second": round(achieved),
        "events_per_commit": per_commit,
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def commit(db: Database, n: int, per_commit: int, slots: asyncio.Semaphore) -> None:
    async with slots, db.unit_of_work() as uow:
        for k in range(per_commit):
            uow.publish(Relayed(channel=f"c{(n + k) % 20}", n=n + k))


async def steady_commits(db: Database, total: int, rate: float, per_commit: int) -> float:
    """Commit ``total`` events, ``per_commit`` per transaction, at ``rate`` events per second
    (commits overlap when one takes longer than the interval); the event rate achieved."""
    commits: list[asyncio.Task[None]] = []
    slots = asyncio.Semaphore(8)  # the pool has 10 connections
    started = time.perf_counter()
    for n in range(0, total, per_commit):
        pause = started + n / rate - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        commits.append(asyncio.create_task(commit(db, n, per_commit, slots)))
    await asyncio.gather(*commits)
    return total / (time.perf_counter() - started)


async def delete_streams(nats_url: str, *streams: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        for name in streams:
            with contextlib.suppress(NotFoundError):
                await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


async def run(url: str, nats_url: str, quick: bool, rate: float, per_commit: int) -> dict[str, Any]:
    async with Database(url, pool=PoolOptions(size=10)) as db:
        await db.create_all()
        await append(db, 1, 1_000, 100)  # warm up: connections, prepared statements
        return {
            "throughput": await throughput(db, nats_url, 5_000 if quick else 20_000),
            "latency": await latency(db, nats_url, rate, 4 if quick else 10, per_commit),
        }


def report(results: dict[str, Any]) -> str:
    t, lat = results["throughput"], results["latency"]
    at = f"{lat['rate_per_second']} events/s ({lat['events_per_commit']} per commit)"
    return "\n".join(
        [
            "## Relay to NATS JetStream (PostgreSQL)",
            "",
            "| measure | result | target |",
            "|---|---:|---:|",
            f"| relay throughput ({t['events']} events) | {t['events_per_second']:,} events/s "
            "| ≥ 5,000 events/s |",
            f"| commit → consumer p50 at {at} | {lat['p50_ms']} ms | |",
            f"| commit → consumer p99 at {at} | {lat['p99_ms']} ms | < 100 ms at 500/s |",
            f"| commit → consumer max | {lat['max_ms']} ms | |",
            f"| events received / sent | {lat['received']} / {lat['events']} | all |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events, shorter run")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LAMINA_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--nats", default=os.environ.get("LAMINA_BENCH_NATS_URL", DEFAULT_NATS_URL))
    parser.add_argument("--rate", type=float, default=500.0, help="events/s of the latency run")
    parser.add_argument(
        "--per-commit", type=int, default=1, help="events per transaction in the latency run"
    )
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.database_url, args.nats, args.quick, args.rate, args.per_commit))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    lat = results["latency"]
    ok = (
        results["throughput"]["events_per_second"] >= 5_000
        and lat["p99_ms"] < 100
        and lat["received"] == lat["events"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
