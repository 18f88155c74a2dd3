"""``python -m benchmarks.load``: the chat service under sustained concurrent load (``make load``).

Usage (from the project root)::

    .venv/bin/python -m benchmarks.load [--seconds 20] [--warmup 3] [--clients 64]
        [--streams 200] [--hot-clients 32] [--postgres URL | --no-postgres] [--no-sqlite]

For each database (PostgreSQL with ``WORKERS=2``, then SQLite with one worker)
it starts the chat service as a user would (``python -m examples.chat``) on a
fresh database, creates the people (:mod:`.population`), runs the hot and the
mixed workload (:mod:`.scenarios`) and checks that nothing acknowledged was
lost (:mod:`.checks`). It prints requests per second, latency percentiles per
route, answers by status, statements per request and the checks; it exits
with 1 if a check failed or any request got a 5xx or no answer. Loopback
only; the same seed makes the same requests in every run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import psutil

from benchmarks.load import checks, report, scenarios
from benchmarks.load.http import Connection
from benchmarks.load.population import populate
from benchmarks.load.server import SECRET, chat_service, fresh_database
from benchmarks.load.tally import Ledger
from lamina.persistence import Database, PoolOptions

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per workload")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--hot-clients", type=int, default=32)
    parser.add_argument("--hot-streams", type=int, default=8)
    parser.add_argument("--clients", type=int, default=64, help="mixed clients (groups of 8)")
    parser.add_argument("--streams", type=int, default=200, help="mixed streams held open")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LAMINA_LOAD_POSTGRES_URL", DEFAULT_POSTGRES),
        help="a PostgreSQL server to create the load database on",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--postgres-workers", type=int, default=2)
    parser.add_argument("--sqlite-workers", type=int, default=1)
    return parser.parse_args(argv)


async def _statements(port: int, token: str) -> dict[str, float]:
    connection = Connection("127.0.0.1", port)
    try:
        metrics = await connection.request("GET", "/metrics", token=token)
    finally:
        await connection.close()
    return report.statements_per_request(metrics.body.decode())


async def _one_database(url: str, workers: int, shape: scenarios.Shape) -> bool:
    """Run both workloads on a fresh database like ``url``; True if every check passed."""
    with tempfile.TemporaryDirectory(prefix="lamina-load-") as folder:
        async with fresh_database(url, Path(folder)) as fresh:
            with chat_service(fresh, workers, Path(folder)) as (port, pid):
                server = psutil.Process(pid)
                db = Database(fresh, secret_key=SECRET, pool=PoolOptions(size=4))
                try:
                    people = await populate(db, shape.hot_clients, shape.clients)
                    ledger = Ledger()
                    stage = scenarios.Stage(db, port, server, people, ledger, shape)
                    hot = await scenarios.hot(stage)
                    mixed = await scenarios.mixed(stage)
                    found = checks.Findings()
                    log = await checks.read_log(db, 0)
                    await checks.check_messages(db, ledger, log, found)
                    checks.check_streams(hot.watchers + mixed.watchers, log, found)
                    await checks.check_invitations(db, mixed.newcomers, found)
                    await checks.check_activity(db, log, found)
                    for outcome in (hot, mixed):
                        found.failures += [f"wrong answer: {w}" for w in outcome.tally.wrong]
                    statements = await _statements(port, people.hot[0].token)
                finally:
                    await db.close()
    kind = "PostgreSQL" if fresh.startswith("postgresql") else "SQLite"
    print(f"\n{kind}, {workers} worker process{'es' if workers > 1 else ''}:")
    for outcome in (hot, mixed):
        print(report.outcome_text(outcome, statements))
    print(report.findings_text(found))
    print(report.goals_text(hot, mixed))
    no_5xx = all(s < 500 and s != 0 for o in (hot, mixed) for s in o.tally.errors())
    return not found.failures and no_5xx


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    shape = scenarios.Shape(
        warmup=args.warmup,
        seconds=args.seconds,
        hot_clients=args.hot_clients,
        hot_streams=args.hot_streams,
        clients=args.clients,
        streams=args.streams,
        seed=args.seed,
    )
    plan: list[tuple[str, int]] = []
    if not args.no_postgres:
        plan.append((args.postgres, args.postgres_workers))
    if not args.no_sqlite:
        plan.append(("sqlite+aiosqlite:///load.db", args.sqlite_workers))
    print(
        f"lamina load test: {shape.seconds:.0f} s per workload after {shape.warmup:.0f} s of "
        f"warm-up, seed {shape.seed}, {os.cpu_count()} cores"
    )
    passed = True
    for url, workers in plan:
        passed = asyncio.run(_one_database(url, workers, shape)) and passed
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
