"""Counters of database work: process-wide totals and a per-task (per-request) tally.

Every statement lamina sends is counted here, so tests can assert a constant
number of queries and the API can report queries per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class QueryTally:
    """Statements sent and time spent on them, within one :func:`count_queries` block."""

    queries: int = 0
    seconds: float = 0.0
    round_trips: int = 0
    """Calls into the driver: a round trip to PostgreSQL, a hop to the thread of an SQLite
    connection (which may carry several statements: BEGIN, staged writes, COMMIT)."""


@dataclass
class DatabaseStats:
    """Process-wide counters of one :class:`~lamina.persistence.Database`."""

    queries: int = 0
    query_seconds: float = 0.0
    transactions: int = 0
    rollbacks: int = 0
    retries: int = 0
    version_conflicts: int = 0
    soft_deletes: int = 0
    hard_deletes: int = 0
    events_appended: int = 0
    audit_entries: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)


_tally: ContextVar[QueryTally | None] = ContextVar("lamina_query_tally", default=None)


@contextmanager
def count_queries() -> Iterator[QueryTally]:
    """Count the statements sent by the current task inside the block.

    >>> with count_queries() as tally:
    ...     await repo.list(load=["children"])
    >>> tally.queries
    2
    """
    tally = QueryTally()
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


def record_query(stats: DatabaseStats, seconds: float, statements: int = 1) -> None:
    """Add ``statements`` sent in ``seconds`` (one round trip) to ``stats`` and to the
    current tally."""
    stats.queries += statements
    stats.query_seconds += seconds
    tally = _tally.get()
    if tally is not None:
        tally.queries += statements
        tally.round_trips += 1
        tally.seconds += seconds
