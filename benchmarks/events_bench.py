"""Event benchmarks on PostgreSQL: append throughput and SSE fan-out to 1,000 clients.

Usage (from the project root)::

    .venv/bin/python -m benchmarks.events_bench [--quick]

PostgreSQL comes from ``LAMINA_BENCH_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); lamina's tables are
created there if missing, and nothing else is touched.

* **append**: events per second through ``uow.publish`` — one writer, then 8
  concurrent writers, 100 events per unit of work (and, for comparison, one
  writer committing every event on its own).
* **fan-out**: a uvicorn server in a subprocess (this module's :func:`create_app`)
  holds 1,000 real HTTP connections to ``/events``, opened by this process;
  one event is appended and the time until every client has received it is
  measured, several rounds.

The markdown report goes to stdout, the figures to ``benchmarks/results/events.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from lamina.api.sse import EventStreamResponse, EventStreams
from lamina.domain import DomainEvent
from lamina.events import EventFeed, EventNotifier, EventStore, StoredEvent
from lamina.persistence import Database, PoolOptions

POSTGRES_URL_VAR = "LAMINA_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
APP_URL_VAR = "LAMINA_EVENTS_BENCH_URL"
RESULTS = Path(__file__).resolve().parent / "results" / "events.json"
ROOT = Path(__file__).resolve().parent.parent


class Pinged(DomainEvent, type="bench.pinged", stream="channel"):
    """The benchmark's event: a small payload, like most domain events."""

    channel: str
    n: int
    note: str = "benchmark event with a modest payload"


def say(message: str) -> None:
    """Progress, on stderr so stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- append


@dataclass
class AppendResult:
    """One append measurement."""

    name: str
    writers: int
    per_transaction: int
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


async def append(db: Database, writers: int, events: int, per_transaction: int) -> float:
    """Seconds for ``writers`` tasks to append ``events`` in all, ``per_transaction`` per commit."""
    share = events // writers

    async def writer(number: int) -> None:
        for start in range(0, share, per_transaction):
            async with db.unit_of_work() as uow:
                for n in range(start, min(start + per_transaction, share)):
                    uow.publish(Pinged(channel=f"w{number}-{n % 50}", n=n))

    started = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(writers)))
    return time.perf_counter() - started


async def measure_appends(url: str, quick: bool) -> list[AppendResult]:
    events = 4_000 if quick else 20_000
    cases = [
        ("1 writer, 100 events per transaction", 1, 100, events),
        ("8 writers, 100 events per transaction", 8, 100, events),
        ("1 writer, 1 event per transaction", 1, 1, events // 10),
    ]
    results = []
    async with Database(url, pool=PoolOptions(size=10)) as db:
        await db.create_all()
        await append(db, 1, 1_000, 100)  # warm up: connections, prepared statements
        for name, writers, per_transaction, count in cases:
            say(f"append: {name} ({count} events)")
            seconds = await append(db, writers, count, per_transaction)
            results.append(AppendResult(name, writers, per_transaction, count, seconds))
    return results


# ---------------------------------------------------------------------------- fan-out


def create_app() -> FastAPI:
    """The fan-out server: ``/events`` for everyone, ``/stats`` with the open connections."""
    db = Database(os.environ[APP_URL_VAR])
    notifier = EventNotifier(db)
    feed = EventFeed(db, notifier=notifier)
    streams = EventStreams(db, feed=feed, heartbeat=300, max_buffer=256)
    app = FastAPI()

    def everyone(user: object, event: StoredEvent) -> bool:
        return True

    app.add_api_route(
        "/events", streams.endpoint(authorize=everyone), response_class=EventStreamResponse
    )

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        await feed.start()
        await notifier.wait_until_listening()
        return {"open": streams.stats.connections_open, "sent": streams.stats.events_sent}

    return app


@dataclass
class FanOutResult:
    """Time from append to the last of ``clients`` receiving the event, per round."""

    clients: int
    rounds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)


class Client:
    """One raw HTTP/1.1 connection to ``/events`` that notes when an event arrives."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.buffer = b""

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")
        await self.writer.drain()
        self.buffer = await self.reader.readuntil(b"retry: ")

    async def wait_for(self, marker: bytes) -> float:
        assert self.reader is not None
        while marker not in self.buffer:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("the server closed the stream")
            self.buffer = self.buffer[-256:] + chunk
        self.buffer = b""
        return time.perf_counter()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def measure_fan_out(url: str, clients: int, rounds: int) -> FanOutResult:
    port = _free_port()
    env = {**os.environ, APP_URL_VAR: url, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    command = [
        sys.executable, "-m", "uvicorn", "benchmarks.events_bench:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--backlog", "4096", "--timeout-graceful-shutdown", "1",
    ]  # fmt: skip
    server = await asyncio.create_subprocess_exec(*command, env=env, cwd=ROOT)
    connections = [Client() for _ in range(clients)]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await _wait_for_server(http, server)
            say(f"fan-out: opening {clients} connections")
            for start in range(0, clients, 100):
                await asyncio.gather(*(c.connect(port) for c in connections[start : start + 100]))
            await _wait_for_server(http, server, open_connections=clients)
            timings = []
            async with Database(url) as db:
                for n in range(rounds):
                    marker = f'"n":{n},'.encode()
                    waiting = [asyncio.create_task(c.wait_for(marker)) for c in connections]
                    await asyncio.sleep(0.2)  # every client is waiting on its socket
                    started = time.perf_counter()
                    async with db.unit_of_work() as uow:
                        uow.publish(Pinged(channel="fan-out", n=n))
                    arrivals = await asyncio.wait_for(asyncio.gather(*waiting), 30)
                    timings.append(max(arrivals) - started)
                    say(f"fan-out round {n + 1}: {timings[-1] * 1000:.0f} ms")
        return FanOutResult(clients, timings)
    finally:
        for connection in connections:
            connection.close()
        await asyncio.sleep(0.5)  # let the server see the clients go before it stops
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()
            await server.wait()


async def _wait_for_server(
    http: httpx.AsyncClient, server: asyncio.subprocess.Process, *, open_connections: int = 0
) -> None:
    """Wait until the server answers and holds ``open_connections`` streams."""
    deadline = time.monotonic() + 30
    while True:
        if server.returncode is not None:
            raise RuntimeError(f"the fan-out server exited with {server.returncode}")
        try:
            response = await http.get("/stats")
            if response.status_code == 200 and response.json()["open"] >= open_connections:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the fan-out server did not get ready")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------- report


def render(appends: list[AppendResult], fan_out: FanOutResult, last: int) -> str:
    lines = [
        "## Events (PostgreSQL)",
        "",
        "| append | events | seconds | events/s |",
        "|---|---:|---:|---:|",
    ]
    for r in appends:
        lines.append(f"| {r.name} | {r.events:,} | {r.seconds:.2f} | {r.per_second:,.0f} |")
    rounds = ", ".join(f"{t * 1000:.0f}" for t in fan_out.rounds)
    lines += [
        "",
        f"SSE fan-out, one event to {fan_out.clients:,} clients (real HTTP connections to a "
        f"uvicorn subprocess): median **{fan_out.median * 1000:.0f} ms**, "
        f"max {max(fan_out.rounds) * 1000:.0f} ms (rounds: {rounds} ms).",
        "",
        f"Targets: ≥ 5,000 events/s appended in batches; fan-out under 1 s. Log at {last:,}.",
    ]
    return "\n".join(lines)


async def run(quick: bool) -> str:
    url = os.environ.get(POSTGRES_URL_VAR) or DEFAULT_POSTGRES_URL
    appends = await measure_appends(url, quick)
    fan_out = await measure_fan_out(url, 1_000, 3 if quick else 7)
    async with Database(url) as db:
        last = await EventStore(db).last_position()
    RESULTS.parent.mkdir(exist_ok=True)
    figures = {
        "append": [{**asdict(r), "per_second": r.per_second} for r in appends],
        "fan_out": {**asdict(fan_out), "median": fan_out.median},
    }
    RESULTS.write_text(json.dumps(figures, indent=2))
    return render(appends, fan_out, last)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and rounds")
    args = parser.parse_args(argv)
    print(asyncio.run(run(args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
