"""Many rows inserted into SQLite as multi-row ``VALUES`` statements.

One statement per chunk of rows costs about a quarter less than one per row.
Runs in the worker thread of the connection (:mod:`lamina.persistence.sqlite_driver`).
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from lamina.persistence.connection import InsertRows

SQLITE_ROWS_PER_STATEMENT = (1000, 100)
"""Rows per multi-row ``VALUES`` statement on SQLite, largest first (within the connection's
limit of bound values). A batch is sent in statements of these sizes and the rest one row at
a time, so each insert shape adds at most two statements to the connection's cache. Beyond
1,000 rows a statement is no faster (measured); below about 100 its overhead shows."""


def _values_clause(sql: str) -> tuple[str, str]:
    """``(head, "(…)")`` of a one-row ``INSERT … VALUES (…)``; ValueError for any other SQL."""
    head, values, one_row = sql.rpartition(" VALUES ")
    if not values or not (one_row.startswith("(") and one_row.endswith(")")):
        raise ValueError(f"not a plain one-row INSERT: {sql!r}")
    return head, one_row


@functools.lru_cache(maxsize=256)
def _null_literals(sql: str, nulls: tuple[int, ...]) -> str | None:
    """``sql`` (a one-row INSERT) with the placeholders at ``nulls`` written as ``NULL``,
    or None if its ``VALUES`` are not plain placeholders."""
    try:
        head, one_row = _values_clause(sql)
    except ValueError:
        return None
    placeholders = one_row[1:-1].split(", ")
    if set(placeholders) != {"?"}:
        return None
    marks = ["NULL" if i in nulls else "?" for i in range(len(placeholders))]
    return f"{head} VALUES ({', '.join(marks)})"


@functools.lru_cache(maxsize=256)
def _many_rows(sql: str, size: int) -> str:
    """``sql`` (a one-row INSERT) rewritten to insert ``size`` rows at once."""
    head, one_row = _values_clause(sql)
    return f"{head} VALUES {', '.join([one_row] * size)}"


def _without_null_columns(insert: InsertRows) -> tuple[str, Sequence[Sequence[Any]]]:
    """The one-row SQL and rows of ``insert``, a column that is None in every row
    written as a ``NULL`` literal instead of bound values.

    ``sqlite3`` binds None through its adapter lookup, which raises and discards an
    AttributeError each time: a None costs about as much as the rest of a row's values
    (the actor, tenant and deletion columns of a batch are often None throughout).
    """
    rows = insert.rows
    count = len(rows)
    nulls = tuple(
        i
        for i, value in enumerate(rows[0])
        if value is None and list(map(itemgetter(i), rows)).count(None) == count
    )
    sql = _null_literals(insert.sql, nulls) if nulls else None
    if sql is None:
        return insert.sql, rows
    kept = [i for i in range(len(rows[0])) if i not in nulls]
    if len(kept) > 1:
        return sql, list(map(itemgetter(*kept), rows))
    return sql, [(row[kept[0]],) for row in rows] if kept else [()] * count


def insert_values(raw: sqlite3.Connection, insert: InsertRows) -> None:
    """Run ``insert`` as multi-row ``VALUES`` statements (in the calling worker thread)."""
    if not insert.rows:
        return
    if len(insert.rows) == 1:
        raw.execute(insert.sql, insert.rows[0])
        return
    sql, rows = _without_null_columns(insert)
    width = len(rows[0])
    most = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width if width else 1
    flatten = itertools.chain.from_iterable
    done = 0
    for size in SQLITE_ROWS_PER_STATEMENT:
        size = min(size, most)
        if size < 2 or len(rows) - done < size:
            continue
        many = _many_rows(sql, size)
        while len(rows) - done >= size:
            raw.execute(many, list(flatten(rows[done : done + size])))
            done += size
    if done < len(rows):  # the rest, one row at a time: odd sizes would crowd the cache
        raw.executemany(sql, rows[done:])
