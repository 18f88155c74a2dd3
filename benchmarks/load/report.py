"""The load run's figures as text: per route latencies, errors, statements, streams, checks."""

from __future__ import annotations

import re

from benchmarks.load.checks import Findings
from benchmarks.load.scenarios import Outcome

_METRIC = re.compile(
    r'^lamina_http_request_db_queries_(sum|count)\{method="(\w+)",route="([^"]+)"\} ([0-9.e+]+)$'
)


def statements_per_request(metrics: str) -> dict[str, float]:
    """Average database statements per request, per route, from a ``/metrics`` text."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in metrics.splitlines():
        match = _METRIC.match(line)
        if match:
            kind, method, route, value = match.groups()
            (sums if kind == "sum" else counts)[f"{method} {route}"] = float(value)
    return {route: sums[route] / n for route, n in counts.items() if n and route in sums}


def outcome_text(outcome: Outcome, statements: dict[str, float]) -> str:
    tally = outcome.tally
    total = sum(len(v) for v in tally.latencies.values())
    lines = [
        f"  {outcome.name}: {outcome.clients} clients, {len(outcome.watchers)} streams, "
        f"{tally.window:.1f} s measured, {total / tally.window if tally.window else 0:,.0f} req/s",
        f"    {'route':<52}{'count':>7}{'req/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
        f"{'stmts':>7}",
    ]
    for route, count, rate, p50, p95, p99, worst in tally.rows():
        stmts = statements.get(route.split(" (")[0])
        shown = f"{stmts:7.1f}" if stmts is not None else f"{'':>7}"
        lines.append(
            f"    {route:<52}{count:>7}{rate:>8.0f}{p50:>8.1f}{p95:>8.1f}{p99:>8.1f}{worst:>8.1f}"
            f"{shown}"
        )
    lines.append(
        "    (latencies in ms; stmts: database statements per request, one worker's count)"
    )
    errors = tally.errors()
    shown_errors = ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(errors.items()))
    lines.append(f"    answers outside 2xx: {shown_errors or 'none'}")
    lines += [f"      e.g. {sample}" for sample in tally.unexpected]
    cpu = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.cpu.items())
    lines.append(f"    CPU in the measured window: {cpu}")
    lines += [f"    {note}" for note in outcome.notes]
    return "\n".join(lines)


def findings_text(found: Findings) -> str:
    lines = ["  integrity checks:"]
    lines += [f"    {name}: {value:,}" for name, value in found.counts.items()]
    if found.failures:
        lines.append(f"    FAILED ({len(found.failures)}):")
        lines += [f"      {failure}" for failure in found.failures[:20]]
    else:
        lines.append("    all passed: every acknowledged write stored once, every stream complete")
    return "\n".join(lines)


def goals_text(hot: Outcome, mixed: Outcome) -> str:
    """The issue's goals for this machine's kind, met or missed."""
    hot_route = "POST /conversations/{conversation_id}/messages"
    rows = {row[0]: row for row in hot.tally.rows()}
    p99 = rows[hot_route][5] if hot_route in rows else float("nan")
    hot_errors = sum(hot.tally.errors().values())
    mixed_5xx = sum(n for s, n in mixed.tally.errors().items() if s >= 500 or s == 0)
    checks = [
        (f"hot: {hot.clients} clients on one conversation, 0 errors", hot_errors == 0),
        (f"hot: p99 of a post under 250 ms (is {p99:.0f} ms)", p99 < 250),
        (f"mixed: {mixed.clients} clients, {len(mixed.watchers)} streams, 0 5xx", mixed_5xx == 0),
    ]
    return "\n".join(["  goals:"] + [f"    [{'met' if ok else 'MISSED'}] {t}" for t, ok in checks])
