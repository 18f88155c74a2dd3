"""The PostgreSQL driver: asyncpg connections, statements prepared and cached per connection.

Imported only when a :class:`~lamina.persistence.Database` is opened on a PostgreSQL
URL, so applications on SQLite run without asyncpg installed.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from lamina.persistence.connection import COPY_THRESHOLD, Batch, Connection, InsertRows, Row
from lamina.persistence.errors import ABORTED_MESSAGE, TransactionAborted
from lamina.persistence.instrumentation import DatabaseStats, record_query
from lamina.persistence.pool import Pool, PoolOptions


async def _setup_pg_connection(conn: asyncpg.Connection) -> None:
    # Same JSON codecs as SQLAlchemy's asyncpg dialect, so values written by
    # either are read alike: the statement layer passes JSON already serialized.
    await conn.set_type_codec(
        "json",
        encoder=str.encode,
        decoder=lambda b: json.loads(b.decode()),
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda s: b"\x01" + s.encode(),
        decoder=lambda b: json.loads(b[1:].decode()),
        schema="pg_catalog",
        format="binary",
    )


class PostgresConnection(Connection):
    """An asyncpg connection; statements are prepared and cached per connection."""

    def __init__(self, raw: asyncpg.Connection, stats: DatabaseStats) -> None:
        super().__init__(stats)
        self.raw = raw

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        start = time.perf_counter()
        try:
            return await self.raw.fetch(sql, *args)  # type: ignore[no-any-return]
        except asyncpg.DataError as exc:
            await self._resync(exc)
            raise
        finally:
            record_query(self._stats, time.perf_counter() - start)

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        start = time.perf_counter()
        try:
            status: str = await self.raw.execute(sql, *args)
        except asyncpg.DataError as exc:
            await self._resync(exc)
            raise
        finally:
            record_query(self._stats, time.perf_counter() - start)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def _resync(self, exc: asyncpg.DataError) -> None:
        """After an argument asyncpg could not encode (an aware datetime for a ``timestamp``
        column…), end the statement the server was left waiting in: it holds the table's
        lock until the connection's next message, and a connection back in the pool may not
        send one for a long time (a DROP, an ALTER, a migration would wait on it)."""
        if str(exc).startswith("invalid input for query argument"):
            with contextlib.suppress(Exception):
                await self.raw.execute("SELECT 1")

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        start = time.perf_counter()
        try:
            await self.raw.executemany(sql, rows)
        finally:
            record_query(self._stats, time.perf_counter() - start)

    async def copy_records(
        self,
        table: str,
        columns: Sequence[str],
        records: Sequence[Sequence[Any]],
        *,
        schema: str | None = None,
    ) -> None:
        """Bulk-load rows with ``COPY`` (PostgreSQL's fastest insert path)."""
        start = time.perf_counter()
        try:
            await self.raw.copy_records_to_table(
                table, records=records, columns=list(columns), schema_name=schema
            )
        finally:
            record_query(self._stats, time.perf_counter() - start)

    async def insert_rows(self, insert: InsertRows) -> None:
        if len(insert.rows) >= COPY_THRESHOLD:
            await self.copy_records(insert.table, insert.columns, insert.rows, schema=insert.schema)
        elif len(insert.rows) == 1:
            await self.execute(insert.sql, insert.rows[0])
        else:
            await self.execute_many(insert.sql, insert.rows)

    async def _simple(self, sql: str) -> str:
        start = time.perf_counter()
        try:
            return str(await self.raw.execute(sql))
        finally:
            record_query(self._stats, time.perf_counter() - start)

    async def begin(self, *, write: bool = True) -> None:
        await self._simple("BEGIN")

    async def commit(self, batches: Sequence[Batch] = ()) -> None:
        try:
            for batch in batches:
                if isinstance(batch, InsertRows):
                    await self.insert_rows(batch)
                else:
                    await self.execute_many(*batch)
            aborted = await self._simple("COMMIT") == "ROLLBACK"
        except asyncpg.InFailedSQLTransactionError:
            aborted = True
        if aborted:  # a statement failed in it earlier, and the use case carried on
            raise TransactionAborted(ABORTED_MESSAGE)

    async def rollback(self) -> None:
        if self.raw.is_closed():
            return
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            await self._simple("ROLLBACK")

    def is_closed(self) -> bool:
        return bool(self.raw.is_closed())

    def in_transaction(self) -> bool:
        return bool(self.raw.is_in_transaction())


class PostgresPool(Pool[PostgresConnection]):
    """asyncpg connections in lamina's pool."""

    dialect_name = "postgresql"

    def __init__(self, dsn: str, options: PoolOptions, stats: DatabaseStats) -> None:
        super().__init__(options, stats)
        self._dsn = dsn
        self._settings = {"timezone": "UTC"}
        if options.statement_timeout:
            self._settings["statement_timeout"] = str(int(options.statement_timeout * 1000))
        if options.lock_timeout:
            self._settings["lock_timeout"] = str(int(options.lock_timeout * 1000))

    async def _open(self) -> PostgresConnection:
        raw = await asyncpg.connect(
            self._dsn,
            statement_cache_size=512,
            server_settings=self._settings,
            timeout=self._options.acquire_timeout,
        )
        try:
            await _setup_pg_connection(raw)
        except BaseException:
            raw.terminate()
            raise
        return PostgresConnection(raw, self._stats)

    async def release(self, conn: PostgresConnection, *, discard: bool = False) -> None:
        if not discard and not conn.raw.is_closed():
            discard = not await self._usable(conn)
        await super().release(conn, discard=discard)

    async def _usable(self, conn: PostgresConnection) -> bool:
        """Roll back a transaction a use left open (a cancelled BEGIN or ROLLBACK, whose
        reply may come after the connection was given back); unusable if that fails."""
        if conn.raw.is_in_transaction():
            await conn.rollback()
        return not conn.raw.is_in_transaction()

    async def _close(self, conn: PostgresConnection) -> None:
        if not conn.raw.is_closed():
            conn.raw.terminate()
