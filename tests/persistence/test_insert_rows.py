"""``Connection.insert_rows``: many rows the driver's fastest way, each value as it was given.

On SQLite a column that is None in every row is written as a ``NULL`` literal
rather than bound (sqlite3 binds None slowly); these tests pin down that this
changes nothing about what is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lamina.persistence import Database
from lamina.persistence.connection import Connection, InsertRows

TABLE = "t_insert_rows"


@pytest.fixture
async def conn(db: Database) -> AsyncIterator[Connection]:
    async with db.connection() as conn:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}", [])
        await conn.execute(
            f"CREATE TABLE {TABLE} (n INTEGER NOT NULL, label TEXT,"
            " note TEXT DEFAULT 'default', amount INTEGER)",
            [],
        )
        try:
            yield conn
        finally:
            await conn.execute(f"DROP TABLE {TABLE}", [])


def _insert(db: Database, rows: list[tuple[object, ...]]) -> InsertRows:
    mark = (lambda i: f"${i}") if db.dialect_name == "postgresql" else (lambda i: "?")
    columns = ("n", "label", "note", "amount")
    values = ", ".join(mark(i + 1) for i in range(len(columns)))
    sql = f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES ({values})"
    return InsertRows(TABLE, columns, sql, rows)


async def _stored(conn: Connection) -> list[tuple[object, ...]]:
    rows = await conn.fetch(f"SELECT n, label, note, amount FROM {TABLE} ORDER BY n", [])
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("count", [1, 2, 150, 1000])
async def test_columns_none_in_every_row_are_stored_as_null_not_their_default(
    db: Database, conn: Connection, count: int
) -> None:
    rows = [(i, f"label {i}" if i % 2 else None, None, None) for i in range(count)]
    await conn.insert_rows(_insert(db, rows))
    assert await _stored(conn) == rows


async def test_rows_with_no_column_none_throughout_are_stored_as_given(
    db: Database, conn: Connection
) -> None:
    rows = [(i, "x", None if i % 3 else "note", i * 10) for i in range(300)]
    await conn.insert_rows(_insert(db, rows))
    assert await _stored(conn) == rows


async def test_an_insert_whose_values_are_not_plain_placeholders_binds_every_value(
    db: Database, conn: Connection
) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("the SQLite statement shape")
    sql = f"INSERT INTO {TABLE} (n, label, note, amount) VALUES (?, lower(?), ?, ?)"
    rows = [(i, "LABEL", None, None) for i in range(5)]
    await conn.insert_rows(InsertRows(TABLE, ("n", "label", "note", "amount"), sql, rows))
    assert await _stored(conn) == [(i, "label", None, None) for i in range(5)]


async def test_rows_of_one_value_and_nulls_are_stored_as_given(
    db: Database, conn: Connection
) -> None:
    rows = [(i, None, None, None) for i in range(120)]
    await conn.insert_rows(_insert(db, rows))
    assert await _stored(conn) == rows


@pytest.mark.parametrize("count", [99, 100, 1099, 2345])
async def test_batches_of_any_size_are_stored_whole_and_in_order(
    db: Database, conn: Connection, count: int
) -> None:
    rows = [(i, f"label {i}", "note" if i % 7 else None, i * 3) for i in range(count)]
    await conn.insert_rows(_insert(db, rows))
    assert await _stored(conn) == rows
