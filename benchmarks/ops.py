"""The operations of the workload, and how each is driven as a timed step on a layer.

A step does its untimed preparation (fresh rows to insert, the next id and its
version), times only the layer's call, then does its untimed cleanup, and returns
the seconds the call took.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any
from uuid import UUID

from benchmarks.admin import Admin
from benchmarks.layers.base import Layer
from benchmarks.workload import BULK_ROWS, Workload, new_items

_SCORES = itertools.count(1_000)
"""Scores the update benchmark sets: shared by every layer and never repeated, so each
update really changes the row (a layer meeting the value another layer already set
would otherwise have nothing to write)."""

Step = Callable[[], Awaitable[float]]


@dataclass(frozen=True)
class Operation:
    """One benchmark operation."""

    name: str
    label: str
    rows_per_call: int = 1
    writes: bool = False


OPERATIONS = (
    Operation("insert", "insert 1 row / txn", writes=True),
    Operation("bulk_insert", f"bulk insert {BULK_ROWS:,} rows (rows/s)", BULK_ROWS, writes=True),
    Operation("get", "get by id"),
    Operation("list", "list filtered page of 50"),
    Operation("update", "update with version check", writes=True),
    Operation("page_first", "first page of 50"),
    Operation("page_offset", "page at depth 10k, offset"),
    Operation("page_keyset", "page at depth 10k, keyset"),
)
"""In the order of the results table (the issue's order, then the first page)."""

BY_NAME = {op.name: op for op in OPERATIONS}
RUN_ORDER = (
    "get",
    "list",
    "page_first",
    "page_offset",
    "page_keyset",
    "update",
    "insert",
    "bulk_insert",
)
"""Reads first, on the seeded table; writes last, each cleaned up after itself."""


def make_step(op: Operation, layer: Layer, workload: Workload, admin: Admin) -> Step:
    """The timed step of ``op`` on ``layer``."""
    if op.name == "insert":

        async def insert() -> float:
            (item,) = new_items(1)
            start = perf_counter()
            await layer.insert_one(item)
            return perf_counter() - start

        return insert

    if op.name == "bulk_insert":

        async def bulk() -> float:
            items = new_items(BULK_ROWS)
            # Every call starts from the same collector state: otherwise a full
            # collection made due by one layer's garbage (every other round or so,
            # 15-30 ms) lands on whichever layer allocates next, and medians of
            # one-call rounds swing by that much.
            gc.collect()
            start = perf_counter()
            await layer.bulk_insert(items)
            elapsed = perf_counter() - start
            await admin.delete_written()
            return elapsed

        return bulk

    if op.name == "get":
        ids = workload.cycle_get_ids()

        async def get() -> float:
            item_id = next(ids)
            start = perf_counter()
            await layer.get(item_id)
            return perf_counter() - start

        return get

    if op.name == "update":
        update_ids = workload.cycle_update_ids()
        versions = workload.versions

        async def update() -> float:
            item_id = next(update_ids)
            score = next(_SCORES)
            start = perf_counter()
            versions[item_id] = await layer.update(item_id, score, versions[item_id])
            return perf_counter() - start

        return update

    read: Callable[[], Awaitable[object]] = {
        "list": layer.list_page,
        "page_first": layer.first_page,
        "page_offset": layer.offset_page,
        "page_keyset": layer.keyset_page,
    }[op.name]

    async def page() -> float:
        start = perf_counter()
        await read()
        return perf_counter() - start

    return page


def ids_of(result: Any) -> list[UUID]:
    """The ids a read returned, whatever shape the layer returns rows in."""
    items = getattr(result, "items", result)
    found: list[UUID] = []
    for item in items:
        value = getattr(item, "id", None)
        if value is None:
            value = item[0]
        found.append(value if isinstance(value, UUID) else UUID(str(value)))
    return found


async def _as_list(result: Awaitable[object]) -> list[object]:
    return [await result]


async def check_reads(layer: Layer, workload: Workload) -> dict[str, str]:
    """Run each read once and compare with the expected ids; the mismatches, by operation."""
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "get": lambda: _as_list(layer.get(workload.get_ids[0])),
        "list": layer.list_page,
        "page_first": layer.first_page,
        "page_offset": layer.offset_page,
        "page_keyset": layer.keyset_page,
    }
    problems: dict[str, str] = {}
    for name, call in calls.items():
        try:
            got = ids_of(await call())
        except Exception as error:  # a layer under construction may fail anywhere
            problems[name] = f"{type(error).__name__}: {error}"
            continue
        expected = workload.expected_ids[name]
        if got != expected:
            problems[name] = (
                f"wrong rows: {len(got)} returned, first {got[:1]}, want {expected[:1]}"
            )
    return problems
