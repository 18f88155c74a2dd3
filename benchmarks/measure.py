"""Timing: warm up, count statements, then interleaved rounds; the median round is the result.

Rounds of different layers alternate (and their order rotates), so a slow phase
of a noisy machine hits every layer alike instead of one layer's whole run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from statistics import median
from time import perf_counter

from benchmarks.layers.base import Layer
from benchmarks.ops import Operation, Step


@dataclass(frozen=True)
class Timing:
    """How long to warm up and measure each operation on each layer."""

    warmup_seconds: float
    warmup_calls: int
    rounds: int
    round_seconds: float
    round_calls: int
    bulk_rounds: int
    """Rounds of a bulk operation: one call each, so more of them to steady the median."""


FULL = Timing(
    warmup_seconds=0.3, warmup_calls=3, rounds=5, round_seconds=0.5, round_calls=3, bulk_rounds=11
)
QUICK = Timing(
    warmup_seconds=0.08, warmup_calls=2, rounds=3, round_seconds=0.12, round_calls=2, bulk_rounds=3
)


@dataclass
class Measurement:
    """The result of one operation on one layer."""

    ops_per_second: float | None = None
    """Median over the rounds; rows per second for bulk insert."""
    rounds: list[float] = field(default_factory=list)
    statements: float | None = None
    """Statements sent per call, BEGIN/COMMIT/ROLLBACK included where sent on their own."""
    error: str | None = None


async def run_calls(step: Step, seconds: float, minimum: int) -> tuple[int, float]:
    """Call ``step`` for ``seconds`` of wall time and at least ``minimum`` times.

    Returns the number of calls and the seconds spent inside the timed parts.
    """
    calls = 0
    timed = 0.0
    start = perf_counter()
    while calls < minimum or perf_counter() - start < seconds:
        timed += await step()
        calls += 1
    return calls, timed


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:200]


async def measure_operation(
    op: Operation,
    steps: dict[Layer, Step],
    timing: Timing,
    cleanup: Callable[[], Awaitable[None]],
) -> dict[str, Measurement]:
    """Measure ``op`` on every layer of ``steps``; ``cleanup`` runs (untimed) after each round."""
    results = {layer.name: Measurement() for layer in steps}
    bulk = op.rows_per_call > 1  # one call is already many rows: fewer calls per round
    warmup_calls = 1 if bulk else timing.warmup_calls
    round_calls = 1 if bulk else timing.round_calls
    round_seconds = 0.0 if bulk else timing.round_seconds
    rounds = timing.bulk_rounds if bulk else timing.rounds
    active: list[Layer] = []
    for layer, step in steps.items():
        result = results[layer.name]
        try:
            with layer.count_statements() as count:
                calls, _ = await run_calls(step, timing.warmup_seconds, warmup_calls)
            result.statements = (
                count.value / calls if count is not None else layer.known_statements(op.name)
            )
            active.append(layer)
        except Exception as error:  # recorded and shown in the report
            result.error = _describe(error)
        finally:
            await cleanup()
    for index in range(rounds):
        shift = index % len(active) if active else 0
        for layer in active[shift:] + active[:shift]:
            result = results[layer.name]
            if result.error is not None:
                continue
            try:
                calls, timed = await run_calls(steps[layer], round_seconds, round_calls)
                result.rounds.append(calls * op.rows_per_call / timed)
            except Exception as error:  # recorded and shown in the report
                result.error = _describe(error)
            finally:
                await cleanup()
    for result in results.values():
        if result.error is None and result.rounds:
            result.ops_per_second = median(result.rounds)
    return results
