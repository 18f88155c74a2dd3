"""The results of a run: a markdown report to paste into a note, and JSON for later comparison."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement
from benchmarks.ops import OPERATIONS

SYNCHRONOUS = {"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}
LAMINA = "lamina"
ORM = "SA ORM"
GOALS = (
    ("get", 1 / 2, "get by id within 2x of the raw driver"),
    ("list", 1 / 2, "list page within 2x of the raw driver"),
    ("update", 1 / 3, "versioned update (with audit entry) within 3x of the raw driver"),
    ("bulk_insert", 1 / 1.5, "bulk insert within 1.5x of the raw driver"),
)

COPY = "asyncpg COPY"
WRITE_GOALS = (
    ("postgres", "insert", None, 0.7, "insert 1 row with its audit entry"),
    ("postgres", "update", None, 0.6, "versioned update with its audit entry"),
    ("postgres", "bulk_insert", ORM, 1.0, "bulk insert with audit entries, to the ORM"),
    ("postgres", "bulk_insert", COPY, 0.7, "bulk insert with audit entries, to raw COPY"),
    ("sqlite", "update", None, 0.8, "versioned update with its audit entry"),
    ("sqlite", "bulk_insert", ORM, 1.0, "bulk insert with audit entries, to the ORM"),
)
"""Issue 18's goals: database, operation, the layer compared with (None: the raw
driver), the ratio to reach and what it measures."""

BY_HAND = (
    ("postgres", "insert", "asyncpg+audit", "insert, row and entry in one statement"),
    ("postgres", "update", "asyncpg+audit", "versioned update and entry in one statement"),
    ("postgres", "bulk_insert", "asyncpg COPY+audit", "bulk insert, rows and entries by COPY"),
    ("sqlite", "insert", "aiosqlite+audit", "insert, row and entry through aiosqlite"),
    ("sqlite", "update", "aiosqlite+audit", "versioned update and entry through aiosqlite"),
)
"""lamina against the raw driver doing the same work, audit entries included: database,
operation, the layer that does it by hand, what it is. A ratio, no goal: what G4's
entries cost is the same for both, so this is lamina's own cost alone."""


@dataclass
class DatabaseResult:
    """Everything measured on one database."""

    database: str
    title: str
    reference: str
    """The layer every ratio is taken against."""
    layers: list[str] = field(default_factory=list)
    results: dict[str, dict[str, Measurement]] = field(default_factory=dict)
    """Operation name → layer name → measurement."""
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def rate(self, op: str, layer: str) -> float | None:
        """Operations per second of ``layer`` on ``op``, if measured."""
        measurement = self.results.get(op, {}).get(layer)
        return measurement.ops_per_second if measurement else None

    def ratio(self, op: str, layer: str, to: str | None = None) -> float | None:
        """``layer``'s rate over the reference's (or ``to``'s) on ``op``."""
        mine, theirs = self.rate(op, layer), self.rate(op, to or self.reference)
        return mine / theirs if mine and theirs else None


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _cell(result: DatabaseResult, op: str, layer: str) -> str:
    measurement = result.results.get(op, {}).get(layer)
    if measurement is None:
        return "-"
    if measurement.error is not None:
        return "error"
    rate = measurement.ops_per_second
    if rate is None:
        return "-"
    trips = "" if measurement.statements is None else f" [{round(measurement.statements, 1):g}]"
    if layer == result.reference:
        return _number(rate) + trips
    ratio = result.ratio(op, layer)
    return (f"{_number(rate)} ({ratio:.2f}x)" if ratio else _number(rate)) + trips


def _statements(measurement: Measurement | None) -> str:
    if measurement is None or measurement.statements is None:
        return "-"
    return f"{round(measurement.statements, 1):g}"


def _table(result: DatabaseResult, cell: Callable[[str, str], str]) -> list[str]:
    layers = result.layers
    lines = ["| operation | " + " | ".join(layers) + " |", "|---|" + "---:|" * len(layers)]
    for op in OPERATIONS:
        if op.name in result.results:
            lines.append(f"| {op.label} | " + " | ".join(cell(op.name, x) for x in layers) + " |")
    return lines


def _depth_cost(result: DatabaseResult, layer: str) -> float | None:
    """Time of a keyset page at depth over the time of the first page."""
    first, deep = result.rate("page_first", layer), result.rate("page_keyset", layer)
    return first / deep if first and deep else None


def render_database(result: DatabaseResult) -> list[str]:
    """The markdown section of one database."""
    lines = [
        f"### {result.title}: operations per second (ratio to {result.reference}) "
        "[round trips per operation]",
        "",
    ]
    lines += _table(result, lambda op, layer: _cell(result, op, layer))
    if "page_first" in result.results and "page_keyset" in result.results:
        costs = [_depth_cost(result, layer) for layer in result.layers]
        shown = " | ".join(f"{cost:.2f}x" if cost else "-" for cost in costs)
        lines.append(f"| keyset at depth / first page (time) | {shown} |")
    lines += [
        "",
        f"Round trips per operation ({result.title}), counted at each layer's driver while it "
        "runs: a statement, a pipelined batch or a COPY is one; BEGIN, COMMIT and ROLLBACK "
        "count where sent on their own; for lamina on SQLite, a hop to the connection's thread "
        "is one (it may carry BEGIN, staged writes and COMMIT):",
        "",
    ]
    lines += _table(result, lambda op, layer: _statements(result.results[op].get(layer)))
    lines += ["", *_goal_lines(result), *_note_lines(result)]
    return lines


def _goal_lines(result: DatabaseResult) -> list[str]:
    if not any(result.rate(op, LAMINA) for op in result.results):
        return []
    lines = [f"lamina against the goals of issue 2 ({result.title}):", ""]
    below = []
    for op in result.results:
        versus_orm = result.ratio(op, LAMINA, ORM)
        if versus_orm is not None and versus_orm < 1:
            below.append(f"{op} ({versus_orm:.2f}x ORM)")
    if any(result.ratio(op, LAMINA, ORM) is not None for op in result.results):
        floor = "met" if not below else "NOT met on " + ", ".join(below)
        lines.append(f"- floor, at least as fast as SA ORM on every operation: {floor}")
    for op, target, text in GOALS:
        ratio = result.ratio(op, LAMINA)
        if ratio is not None:
            verdict = "met" if ratio >= target else "not met"
            lines.append(f"- {text}: {ratio:.2f}x (need >= {target:.2f}x) - {verdict}")
    cost = _depth_cost(result, LAMINA)
    if cost is not None:
        verdict = "met" if cost <= 1.5 else "not met"
        lines.append(
            f"- keyset page at depth within 1.5x of the first page: {cost:.2f}x - {verdict}"
        )
    writes = []
    for database, op, to, target, text in WRITE_GOALS:
        ratio = result.ratio(op, LAMINA, to) if database == result.database else None
        if ratio is not None:
            verdict = "met" if ratio >= target else "not met"
            writes.append(f"- {text}: {ratio:.2f}x (need >= {target:.2f}x) - {verdict}")
    if writes:
        lines += ["", f"lamina against the write goals of issue 18 ({result.title}):", "", *writes]
    by_hand = []
    for database, op, to, text in BY_HAND:
        ratio = result.ratio(op, LAMINA, to) if database == result.database else None
        if ratio is not None:
            by_hand.append(f"- {text} ({to}): {ratio:.2f}x")
    if by_hand:
        lines += ["", "lamina against the same work, audit entries included, by hand:", ""]
        lines += by_hand
    return [*lines, ""]


def _setting(key: str, value: str) -> str:
    return SYNCHRONOUS.get(value, value) if key == "synchronous" else value


def _note_lines(result: DatabaseResult) -> list[str]:
    lines = [f"- {note}" for note in result.notes]
    for layer, reason in result.skipped.items():
        lines.append(f"- {layer} skipped: {reason}")
    for op, row in result.results.items():
        for layer, measurement in row.items():
            if measurement.error is not None:
                lines.append(f"- {layer} {op} error: {measurement.error}")
    by_settings: dict[str, list[str]] = {}
    for layer, settings in result.settings.items():
        if settings:
            shown = ", ".join(f"{key}={_setting(key, value)}" for key, value in settings.items())
            by_settings.setdefault(shown, []).append(layer)
    for shown, layers in by_settings.items():
        lines.append(f"- {', '.join(layers)}: {shown}")
    return [*lines, ""] if lines else []


def render(meta: dict[str, Any], databases: list[DatabaseResult]) -> str:
    """The whole markdown report."""
    lines = [
        "## Benchmarks",
        "",
        f"{meta['mode']} run, {meta['started']}; Python {meta['python']}, "
        f"SQLAlchemy {meta['sqlalchemy']}, asyncpg {meta['asyncpg']}, "
        f"aiosqlite {meta['aiosqlite']}; {meta['cpus']} CPUs. One connection, one "
        "operation at a time; median of the rounds.",
        "",
    ]
    for database in databases:
        lines += render_database(database)
    return "\n".join(lines).rstrip() + "\n"


def write_json(path: Path, meta: dict[str, Any], databases: list[DatabaseResult]) -> None:
    """Write every measurement (rounds included) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "databases": [asdict(database) for database in databases]}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
