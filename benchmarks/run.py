"""Run the workload through every layer on SQLite and PostgreSQL and print the table.

Usage (from the project root)::

    .venv/bin/python -m benchmarks [--quick] [--only sqlite|postgres] [--ops get,list]

PostgreSQL comes from ``LAMINA_BENCH_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); SQLite is a temporary file.
The markdown report goes to stdout, every measurement to ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python benchmarks/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosqlite
import asyncpg
import sqlalchemy

from benchmarks.admin import Admin
from benchmarks.layers.base import Layer
from benchmarks.layers.raw_postgres import (
    AsyncpgAuditLayer,
    AsyncpgCopyAuditLayer,
    AsyncpgCopyLayer,
    AsyncpgLayer,
    AsyncpgTxnLayer,
)
from benchmarks.layers.raw_sqlite import AiosqliteAuditLayer, AiosqliteLayer, Sqlite3Layer
from benchmarks.layers.sqlalchemy_layers import CoreLayer, OrmLayer
from benchmarks.measure import FULL, QUICK, Measurement, Timing, measure_operation
from benchmarks.ops import BY_NAME, RUN_ORDER, Operation, check_reads, make_step
from benchmarks.report import DatabaseResult, render, write_json
from benchmarks.workload import Workload, seed_rows

POSTGRES_URL_VAR = "LAMINA_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def lamina_layer() -> tuple[type[Layer] | None, str]:
    """lamina's layer class, or None and the reason it cannot be imported yet."""
    try:
        from benchmarks.layers.lamina_layer import LaminaLayer
    except Exception as error:  # ImportError while the API is being written, or any other
        return None, f"lamina's repository does not import: {type(error).__name__}: {error}"
    return LaminaLayer, ""


_STARTED = time.perf_counter()


def say(message: str) -> None:
    """Progress, on stderr so stdout stays the markdown report."""
    print(f"[{time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


async def open_layers(
    classes: list[type[Layer]], url: str, workload: Workload, result: DatabaseResult
) -> list[Layer]:
    """Open each layer; those that cannot open are skipped, with the reason."""
    opened: list[Layer] = []
    for cls in classes:
        layer = cls(url)
        try:
            await layer.open(workload)
        except Exception as error:  # reported as a skipped layer with the reason
            result.skipped[cls.name] = f"cannot open: {type(error).__name__}: {error}"
            say(f"  {cls.name}: skipped ({result.skipped[cls.name]})")
            await _close_quietly(layer)
            continue
        result.settings[layer.name] = await layer.settings()
        result.layers.append(layer.name)
        opened.append(layer)
    return opened


async def _close_quietly(layer: Layer) -> None:
    try:
        await layer.close()
    except Exception as error:  # closing a half-opened layer; the run goes on
        say(f"  {layer.name}: close failed: {error}")


async def measure(
    op: Operation,
    layers: list[Layer],
    wrong: dict[str, str],
    context: tuple[Workload, Admin, Timing],
) -> dict[str, Measurement]:
    """Measure ``op`` on the layers not in ``wrong`` (layer name → why its result was wrong)."""
    workload, admin, timing = context
    steps = {
        layer: make_step(op, layer, workload, admin)
        for layer in layers
        if layer.name not in wrong and (layer.operations is None or op.name in layer.operations)
    }

    async def cleanup() -> None:
        if op.writes:
            await admin.delete_written()
        if op.name == "update":
            workload.versions.update(await admin.versions(workload.update_ids))

    measured = await measure_operation(op, steps, timing, cleanup)
    for layer_name, problem in wrong.items():
        measured[layer_name] = Measurement(error=f"not measured: {problem}")
    if op.writes:
        await admin.analyze()
    return measured


async def run_database(
    database: str, url: str, classes: list[type[Layer]], ops: list[str], timing: Timing
) -> DatabaseResult:
    """Seed ``url``, measure ``ops`` on every layer, clean up."""
    admin = Admin(url)
    version = (await admin.server_version()).split()[0]
    title = ("SQLite " if database == "sqlite" else "PostgreSQL ") + version
    reference = "aiosqlite" if database == "sqlite" else "asyncpg"
    result = DatabaseResult(database=database, title=title, reference=reference)
    say(f"{title}: seeding")
    rows = seed_rows()
    workload = Workload.from_seed(rows)
    layers: list[Layer] = []
    try:
        await admin.reset(rows)
        layers = await open_layers(classes, url, workload, result)
        wrong: dict[str, dict[str, str]] = {}
        for layer in layers:
            for name, problem in (await check_reads(layer, workload)).items():
                wrong.setdefault(name, {})[layer.name] = problem
        for name in [wanted for wanted in RUN_ORDER if wanted in ops]:
            say(f"{title}: {BY_NAME[name].label}")
            result.results[name] = await measure(
                BY_NAME[name], layers, wrong.get(name, {}), (workload, admin, timing)
            )
        result.notes = _notes(layers, ops, reference)
    finally:
        for layer in layers:
            await _close_quietly(layer)
        await admin.teardown()
    return result


def _notes(layers: list[Layer], ops: list[str], reference: str) -> list[str]:
    notes = [
        f"ratios are to {reference}; bulk insert is in rows per second",
        "20,000 seeded rows; ANALYZE after seeding; rows written by the insert benchmarks "
        "are deleted between rounds (untimed)",
        "each bulk insert call starts after a full garbage collection (untimed), so no layer "
        "pays for another's garbage",
    ]
    for layer in layers:
        for op, note in layer.notes.items():
            if (op == "*" or op in ops) and note not in notes:
                notes.append(note)
    return notes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="about a minute instead of ~five")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="one database only")
    parser.add_argument("--ops", help="comma-separated operations: " + ",".join(RUN_ORDER))
    parser.add_argument("--layers", help="comma-separated layer names to run (e.g. asyncpg,lamina)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    ops = args.ops.split(",") if args.ops else list(RUN_ORDER)
    unknown = [op for op in ops if op not in BY_NAME]
    if unknown:
        parser.error(f"unknown operation(s) {unknown}; choose from {','.join(RUN_ORDER)}")
    args.ops = ops
    return args


def choose(classes: list[type[Layer]], wanted: str | None) -> list[type[Layer]]:
    """The layers named in ``--layers`` (all when not given)."""
    if not wanted:
        return classes
    names = {name.strip().lower() for name in wanted.split(",")}
    return [cls for cls in classes if cls.name.lower() in names]


async def run(args: argparse.Namespace) -> int:
    """Run every selected database, print the report, write the JSON."""
    timing = QUICK if args.quick else FULL
    lamina, reason = lamina_layer()
    if lamina is None:
        say(f"lamina layer skipped: {reason}")
    extra: list[type[Layer]] = [lamina] if lamina is not None else []
    plans: list[tuple[str, str, list[type[Layer]]]] = []
    if args.only in (None, "sqlite"):
        plans.append(
            (
                "sqlite",
                "",
                [Sqlite3Layer, AiosqliteLayer, AiosqliteAuditLayer, CoreLayer, OrmLayer, *extra],
            )
        )
    if args.only in (None, "postgres"):
        url = os.environ.get(POSTGRES_URL_VAR) or DEFAULT_POSTGRES_URL
        plans.append(
            (
                "postgres",
                url,
                [
                    AsyncpgLayer,
                    AsyncpgAuditLayer,
                    AsyncpgTxnLayer,
                    AsyncpgCopyLayer,
                    AsyncpgCopyAuditLayer,
                    CoreLayer,
                    OrmLayer,
                    *extra,
                ],
            )
        )
    meta: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "timing": timing.__dict__,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "asyncpg": asyncpg.__version__,
        "aiosqlite": aiosqlite.__version__,
        "cpus": os.cpu_count(),
        "lamina_skipped": reason or None,
    }
    results: list[DatabaseResult] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as folder:
        for database, url, classes in plans:
            if database == "sqlite":
                url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            chosen = choose(classes, args.layers)
            try:
                results.append(await run_database(database, url, chosen, args.ops, timing))
            except (OSError, asyncpg.PostgresError, sqlalchemy.exc.DBAPIError) as error:
                skipped.append(f"{database} skipped: {type(error).__name__}: {error}")
                say(skipped[-1])
    meta["skipped"] = skipped
    report = render(meta, results)
    for line in [*skipped, *([f"lamina layer skipped: {reason}"] if reason else [])]:
        report += f"\n{line}\n"
    print(report)
    write_json(args.json, meta, results)
    say(f"JSON written to {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks`` and ``python benchmarks/run.py``."""
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
