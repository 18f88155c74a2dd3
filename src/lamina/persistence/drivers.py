"""Thin connection pools over the database drivers: asyncpg, and sqlite3 in worker threads.

lamina builds every statement with SQLAlchemy Core and compiles it once
(:mod:`lamina.persistence.statements`), then sends it straight to the driver:
this skips SQLAlchemy's per-call execution machinery, which costs more than the
database itself for small statements (README, "How it is fast"). Values are always
bound parameters, never formatted into SQL.

SQLite runs on the standard ``sqlite3`` module, each connection in a thread of
its own, one call per hop to that thread; ``BEGIN`` travels with the first
statement of a transaction, and ``COMMIT`` with the last writes, so a small unit
of work costs two hops.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import queue
import sqlite3
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Generic, TypeVar

import asyncpg

from lamina.persistence.instrumentation import DatabaseStats, record_query
from lamina.persistence.sqlite_checkpoints import FALLBACK_PAGES, Checkpointer

T = TypeVar("T")
Row = Sequence[Any]

COPY_THRESHOLD = 64
"""From this many rows, :class:`InsertRows` on PostgreSQL use COPY instead of a pipelined INSERT."""

SQLITE_ROWS_PER_STATEMENT = (1000, 100)
"""Rows per multi-row ``VALUES`` statement on SQLite, largest first (within the connection's
limit of bound values). A batch is sent in statements of these sizes and the rest one row at
a time, so each insert shape adds at most two statements to the connection's cache. Beyond
1,000 rows a statement is no faster (measured); below about 100 its overhead shows."""


@dataclass(frozen=True)
class InsertRows:
    """Rows for a plain ``INSERT INTO table (columns) VALUES (...)``, one value per column.

    Each driver loads them its fastest way: ``COPY`` on PostgreSQL (from
    :data:`COPY_THRESHOLD` rows), multi-row ``VALUES`` on SQLite, where one
    statement per chunk of rows costs about a quarter less than one per row.
    """

    table: str
    columns: tuple[str, ...]
    sql: str
    """The one-row INSERT, compiled for the connection's dialect."""
    rows: Sequence[Sequence[Any]]
    schema: str | None = None


Batch = tuple[str, Sequence[Sequence[Any]]] | InsertRows
"""A write sent with a commit: a statement and its argument rows, or rows to insert."""


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool settings.

    ``lock_timeout`` (PostgreSQL) bounds how long a statement waits for a row
    or table lock another transaction holds; past it the statement fails as a
    transient error and :meth:`Database.run` retries the unit of work. On
    SQLite, ``busy_timeout_ms`` bounds each of the two waits for the write
    lock: behind this pool's other writers, then behind other processes'.
    """

    size: int = 10
    acquire_timeout: float = 10.0
    statement_timeout: float | None = 30.0
    lock_timeout: float | None = 2.0
    busy_timeout_ms: int = 5000


class Connection(ABC):
    """One connection, used by one task at a time."""

    def __init__(self, stats: DatabaseStats) -> None:
        self._stats = stats

    @abstractmethod
    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        """Run a statement and return all its rows."""

    @abstractmethod
    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        """Run a statement and return the number of rows it changed."""

    @abstractmethod
    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each argument row, in one round trip where the driver can."""

    @abstractmethod
    async def insert_rows(self, insert: InsertRows) -> None:
        """Insert many rows the driver's fastest way."""

    @abstractmethod
    async def begin(self, *, write: bool = True) -> None:
        """Start a transaction (on SQLite, ``write`` takes the write lock at once)."""

    @abstractmethod
    async def commit(self, batches: Sequence[Batch] = ()) -> None:
        """Run ``batches`` (in order), then commit."""

    @abstractmethod
    async def rollback(self) -> None:
        """Roll the transaction back; never raises for a connection that is already gone."""

    @abstractmethod
    def is_closed(self) -> bool:
        """True if the connection can no longer be used."""


C = TypeVar("C", bound=Connection)


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """A pool's connections: the most it may hold, those open, those in use."""

    size: int
    open: int
    in_use: int


class Pool(ABC, Generic[C]):
    """A bounded pool of connections, opened on demand.

    Taking an idle connection needs no await at all and waiting (with the
    acquire timeout) happens only when every connection is busy: this path
    runs on every repository call, so it is kept to a few dictionary-speed
    steps.
    """

    dialect_name: str

    def __init__(self, options: PoolOptions, stats: DatabaseStats) -> None:
        self._options = options
        self._stats = stats
        self._slots = asyncio.Semaphore(options.size)
        self._idle: list[C] = []
        self._all: set[C] = set()

    def usage(self) -> PoolUsage:
        """How many connections the pool may hold, holds, and has lent out."""
        return PoolUsage(self._options.size, len(self._all), len(self._all) - len(self._idle))

    @abstractmethod
    async def _open(self) -> C:
        """Open a new connection."""

    @abstractmethod
    async def _close(self, conn: C) -> None:
        """Close a connection for good (never raises)."""

    async def acquire(self) -> C:
        """Take a connection, waiting up to the acquire timeout when all are busy."""
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._options.acquire_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise TimeoutError("timed out waiting for a free database connection") from None
        else:
            await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._all.discard(conn)
            conn = await self._open()
        except BaseException:
            self._slots.release()
            raise
        self._all.add(conn)
        return conn

    async def release(self, conn: C, *, discard: bool = False) -> None:
        """Return a connection; ``discard`` (after a failure) closes it instead."""
        try:
            if discard or conn.is_closed():
                self._all.discard(conn)
                await self._close(conn)
            else:
                self._idle.append(conn)
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Close every connection, idle or not."""
        conns, self._all, self._idle = list(self._all), set(), []
        for conn in conns:
            await self._close(conn)


# --------------------------------------------------------------------------- PostgreSQL


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
        finally:
            record_query(self._stats, time.perf_counter() - start)

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        start = time.perf_counter()
        try:
            status: str = await self.raw.execute(sql, *args)
        finally:
            record_query(self._stats, time.perf_counter() - start)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

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

    async def _simple(self, sql: str) -> None:
        start = time.perf_counter()
        try:
            await self.raw.execute(sql)
        finally:
            record_query(self._stats, time.perf_counter() - start)

    async def begin(self, *, write: bool = True) -> None:
        await self._simple("BEGIN")

    async def commit(self, batches: Sequence[Batch] = ()) -> None:
        for batch in batches:
            if isinstance(batch, InsertRows):
                await self.insert_rows(batch)
            else:
                await self.execute_many(*batch)
        await self._simple("COMMIT")

    async def rollback(self) -> None:
        if self.raw.is_closed():
            return
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            await self._simple("ROLLBACK")

    def is_closed(self) -> bool:
        return bool(self.raw.is_closed())


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

    async def _close(self, conn: PostgresConnection) -> None:
        if not conn.raw.is_closed():
            conn.raw.terminate()


# --------------------------------------------------------------------------- SQLite


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


def _insert_values(raw: sqlite3.Connection, insert: InsertRows) -> None:
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


_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the waiting task was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Worker:
    """The thread of one SQLite connection: runs its calls one after another, in order.

    A thread of its own per connection (rather than a shared executor) keeps every
    call of a connection on one thread and costs about a third less per hop: a
    queue put to wake it, one ``call_soon_threadsafe`` to hand the result back.
    """

    _numbers = itertools.count(1)

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._stopped = False
        name = f"lamina-sqlite-{next(self._numbers)}"
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def call(self, work: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``work`` in the thread; the future has its result (or its exception).

        Raises ``sqlite3.ProgrammingError`` once the worker is stopped (its
        connection is closed), as ``sqlite3`` does for a closed connection.
        """
        if self._stopped:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, work))
        return future

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called: no new calls are taken."""
        return self._stopped

    def stop(self) -> None:
        """End the thread once the calls already queued have run."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, work = job
            if future.cancelled():  # nobody waits: do not run it
                continue
            result, error = None, None
            try:
                result = work()
            except BaseException as raised:  # handed to the waiting task
                error = raised
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, result, error)
            del job, future, work, result, error


class SQLiteConnection(Connection):
    """A ``sqlite3`` connection driven from a thread of its own, one hop per call."""

    def __init__(
        self,
        raw: sqlite3.Connection,
        worker: _Worker,
        stats: DatabaseStats,
        checkpointer: Checkpointer,
        writers: WriterQueue,
    ) -> None:
        super().__init__(stats)
        self.raw = raw
        self._worker = worker
        self._checkpointer = checkpointer
        self._writers = writers
        weakref.finalize(self, worker.stop)  # a connection dropped unclosed ends its thread
        self._pending_begin: str | None = None
        self._in_transaction = False
        self._writing = False

    async def _hop(
        self,
        work: Callable[[], T],
        statements: int = 1,
        *,
        on_cancel: Callable[[], None] | None = None,
    ) -> T:
        pending = self._pending_begin
        self._pending_begin = None

        def run() -> T:
            if pending is not None:
                self.raw.execute(pending)
            return work()

        start = time.perf_counter()
        try:
            done = self._worker.call(run)
            if pending is None and not self._in_transaction:
                return await done  # no transaction whose state a cancellation could blur
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                if on_cancel is not None:
                    on_cancel()
                # The call may already be running in the thread: wait for its end, so
                # whether the connection is in a transaction is known when it is
                # rolled back and returned to the pool.
                await asyncio.wait([done])
                if not done.cancelled():
                    done.exception()  # retrieved: the cancellation is what propagates
                raise
        except BaseException:
            if pending is not None and not self.raw.in_transaction:
                self._in_transaction = False
            raise
        finally:
            record_query(self._stats, time.perf_counter() - start, statements)

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        return await self._hop(lambda: self.raw.execute(sql, args).fetchall())

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        return await self._hop(lambda: self.raw.execute(sql, args).rowcount)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._hop(lambda: self.raw.executemany(sql, rows))

    async def insert_rows(self, insert: InsertRows) -> None:
        if insert.rows:
            await self._hop(lambda: _insert_values(self.raw, insert))

    async def begin(self, *, write: bool = True) -> None:
        if write:
            await self._writers.enter()
            self._writing = True
        self._pending_begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        self._in_transaction = True

    def _end_writing(self, *, discarded: bool = False) -> None:
        """Let the next writer in once this connection's write transaction is over."""
        if self._writing and (discarded or not self.raw.in_transaction):
            self._writing = False
            self._writers.leave()

    async def commit(self, batches: Sequence[Batch] = ()) -> None:
        if self._pending_begin is not None and not batches:
            self._pending_begin = None  # nothing was sent: nothing to commit
            self._in_transaction = False
            self._end_writing()
            return

        # Set when the caller is cancelled while the batches run: the transaction is
        # then left open, to be rolled back, instead of committed after all. Only a
        # cancellation that arrives during the COMMIT statement itself finds it done.
        abandoned = threading.Event()

        def run() -> None:
            for batch in batches:
                if isinstance(batch, InsertRows):
                    _insert_values(self.raw, batch)
                elif batch[1]:
                    self.raw.executemany(*batch)
            if abandoned.is_set():
                return
            self.raw.execute("COMMIT")
            self._checkpointer.after_commit()

        try:
            await self._hop(run, statements=1 + len(batches), on_cancel=abandoned.set)
        finally:
            self._in_transaction = self.raw.in_transaction
            self._end_writing()

    async def rollback(self) -> None:
        self._pending_begin = None
        self._in_transaction = False
        try:
            if self.is_closed() or not self.raw.in_transaction:
                return

            def run() -> None:
                if self.raw.in_transaction:
                    self.raw.execute("ROLLBACK")

            with contextlib.suppress(sqlite3.Error):
                await self._hop(run)
        finally:
            self._end_writing()

    def is_closed(self) -> bool:
        return self._worker.stopped


class WriterQueue:
    """The writers of one pool (one ``Database`` on an SQLite file), let in one at a time,
    first come first served.

    SQLite lets one transaction write at a time; a second ``BEGIN IMMEDIATE``
    gets SQLITE_BUSY and its busy handler polls, sleeping up to 100 ms between
    tries, so under contention writers wait far longer than the writes take
    (measured: p99 of a chat post 0.6 s at 32 concurrent posters). Queueing
    them here hands the lock over as soon as it is free; the busy handler is
    left for writers in other processes (or other pools). Waiting longer than
    the busy timeout raises the same "database is locked" error SQLite would
    (transient: the unit of work is retried).
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._lock = asyncio.Lock()

    async def enter(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    def leave(self) -> None:
        self._lock.release()


class SQLitePool(Pool[SQLiteConnection]):
    """A small pool of ``sqlite3`` connections to one file, in WAL mode."""

    dialect_name = "sqlite"

    def __init__(self, path: str, options: PoolOptions, stats: DatabaseStats) -> None:
        super().__init__(options, stats)
        self._path = path
        self.checkpointer = Checkpointer(path)
        """Checkpoints this file's WAL in the background (see :mod:`.sqlite_checkpoints`)."""
        self._writers = WriterQueue(options.busy_timeout_ms / 1000)

    def _connect(self) -> sqlite3.Connection:
        raw = sqlite3.connect(
            self._path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._options.busy_timeout_ms / 1000,
            cached_statements=512,
        )
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")  # see .sqlite_checkpoints
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("PRAGMA case_sensitive_like=ON")  # LIKE as on PostgreSQL
        raw.execute(f"PRAGMA busy_timeout={int(self._options.busy_timeout_ms)}")
        return raw

    async def _open(self) -> SQLiteConnection:
        worker = _Worker()
        try:
            raw = await worker.call(self._connect)
        except BaseException:
            worker.stop()
            raise
        return SQLiteConnection(raw, worker, self._stats, self.checkpointer, self._writers)

    async def _close(self, conn: SQLiteConnection) -> None:
        if conn.is_closed():
            return
        closed = conn._worker.call(conn.raw.close)  # in its thread, after any call still running
        conn._worker.stop()
        with contextlib.suppress(Exception):
            await closed

    async def release(self, conn: SQLiteConnection, *, discard: bool = False) -> None:
        if not discard and (conn.raw.in_transaction or conn._pending_begin is not None):
            await conn.rollback()
        conn._end_writing(discarded=discard)
        await super().release(conn, discard=discard)

    async def close(self) -> None:
        await super().close()
        await asyncio.to_thread(self.checkpointer.stop)
