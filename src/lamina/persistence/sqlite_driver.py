"""The SQLite driver: ``sqlite3`` connections to one file in WAL mode, each in a thread of its own.

A read of its own (outside any transaction), or a whole transaction of at most
:data:`INLINE_ROWS` rows written in one call (a standalone repository write:
BEGIN IMMEDIATE, its writes, COMMIT), first runs on the caller's thread: a hop
to the connection's thread costs more than such a statement (25 to 85 µs
against a few µs for a get by id). There SQLite never waits for a lock (busy
timeout 0) and is stopped past ``PoolOptions.inline_budget`` (0.5 ms) by its
progress handler; either way the call is undone (its transaction rolled back)
and the connection's thread runs it from its start, waiting for the lock as
usual. SQL stopped for time is sent to the thread at once for its next
:data:`SLOW_SKIPS` calls. Such a call does not suspend the caller's task: a
loop that must let others run between database calls awaits ``asyncio.sleep(0)``.

Every other call is one hop to the connection's thread: a round trip, as counted
by :func:`~lamina.persistence.count_queries` (so is a call run inline). ``BEGIN``
travels with the first statement of a transaction, and ``COMMIT`` with the last
writes. A write transaction starts with ``BEGIN IMMEDIATE``: from its first hop it holds the
whole database, so the writes of a standalone repository call (an UPDATE of a
row read, its version checked, in this transaction; an INSERT) are staged
(:meth:`SQLiteConnection.stage`) and travel with its commit instead of costing
hops of their own (inside an application's unit of work, writes are sent at
once, so a broken rule raises at the call that broke it). A standalone insert
is then one hop (BEGIN IMMEDIATE, INSERT, audit entry, COMMIT); so is a
standalone versioned update, soft delete or restore of plain fields (BEGIN
IMMEDIATE, the audit entry's INSERT reading the old values, the UPDATE, COMMIT:
:mod:`~lamina.persistence.changes`), and one that needs the row read first is
two (BEGIN IMMEDIATE and the read; UPDATE, audit entry and COMMIT). A staged
write that breaks a rule (unique, foreign key, CHECK) fails in the hop it
travels with, which raises the domain error of the repository that staged it;
nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from lamina.persistence.connection import Batch, Connection, InsertRows, OnError, Row
from lamina.persistence.instrumentation import DatabaseStats, record_query
from lamina.persistence.pool import Pool, PoolOptions
from lamina.persistence.sqlite_checkpoints import FALLBACK_PAGES, WAL_SIZE_LIMIT, Checkpointer
from lamina.persistence.sqlite_inserts import insert_values

T = TypeVar("T")

INLINE_ROWS = 16
"""Rows a transaction may write and still be tried on the caller's thread."""

_PROGRESS_STEPS = 10_000
"""SQLite virtual machine steps between two looks at the clock of a call tried inline."""

_GIVE_WAY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT})
"""What stops a call tried inline and hands it to the connection's thread: another
connection holds a lock it needs (it would wait), or it ran past its budget."""

SLOW_SKIPS = 64
"""Calls of an SQL stopped for time that go straight to the connection's thread, before
it is tried on the caller's thread again (one slow run may have been bad luck)."""

_SLOW_KEPT = 1024
"""Statements remembered as too slow to try inline, per pool (forgotten all at once)."""


class _Job:
    """One call to a connection's thread: what to run, the future its caller awaits, and
    whether it is over (run, or skipped because its caller was cancelled first)."""

    __slots__ = ("finished", "future", "loop", "over", "work")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], work: Callable[[], Any]
    ) -> None:
        self.loop = loop
        self.future = future
        self.work = work
        self.over = False
        self.finished: asyncio.Future[None] | None = None
        """Created by a cancelled caller that must know when the thread is done with it."""

    async def wait_over(self) -> None:
        """Return once the thread has run this call or skipped it (after its future was
        cancelled: the call may already be running)."""
        if not self.over:
            self.finished = self.loop.create_future()
            await self.finished


def _settle(job: _Job, result: Any, error: BaseException | None) -> None:
    job.over = True
    future = job.future
    if not future.done():  # else its caller was cancelled
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    if job.finished is not None and not job.finished.done():
        job.finished.set_result(None)


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
        return self.submit(work).future

    def submit(self, work: Callable[[], Any]) -> _Job:
        """:meth:`call`, returning the job: a caller cancelled while it waits can wait
        for the thread to be done with it (:meth:`_Job.wait_over`)."""
        if self._stopped:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        loop = asyncio.get_running_loop()
        job = _Job(loop, loop.create_future(), work)
        self._jobs.put(job)
        return job

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
            result, error = None, None
            if not job.future.cancelled():  # else nobody waits for it: not run
                try:
                    result = job.work()
                except BaseException as raised:  # handed to the waiting task
                    error = raised
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                job.loop.call_soon_threadsafe(_settle, job, result, error)
            del job, result, error


class SQLiteConnection(Connection):
    """A ``sqlite3`` connection driven from a thread of its own, one hop per call (a short
    call of its own runs on the caller's thread instead, see the module's documentation)."""

    def __init__(
        self,
        raw: sqlite3.Connection,
        worker: _Worker,
        stats: DatabaseStats,
        pool: SQLitePool,
    ) -> None:
        super().__init__(stats)
        self.raw = raw
        self._worker = worker
        self._pool = pool
        weakref.finalize(self, worker.stop)  # a connection dropped unclosed ends its thread
        self._pending_begin: str | None = None
        self._staged: list[tuple[Batch, OnError | None, list[Row] | None]] = []
        self._in_transaction = False
        self._writing = False
        self._waits = True
        """True while SQLite waits for a lock held elsewhere (the busy timeout is set): so in
        the connection's thread, never on the caller's (there the timeout is 0)."""
        self._last: _Job | None = None
        """The last call sent to the connection's thread (none runs inline before it ends)."""

    def stage(
        self, write: Batch, on_error: OnError | None = None, *, into: list[Row] | None = None
    ) -> bool:
        """Queue ``write`` to run first in the next hop (statement or commit), inside a
        write transaction (which holds the database from its first hop); else False."""
        if not self._writing:
            return False
        self._staged.append((write, on_error, into))
        return True

    def _run_batch(self, batch: Batch, into: list[Row] | None = None) -> None:
        if isinstance(batch, InsertRows):
            insert_values(self.raw, batch)
        elif into is not None:
            (args,) = batch[1]
            into += self.raw.execute(batch[0], args).fetchall()
        elif batch[1]:
            if len(batch[1]) == 1:
                self.raw.execute(batch[0], batch[1][0])
            else:
                self.raw.executemany(*batch)

    async def _hop(
        self,
        work: Callable[[], T],
        statements: int = 1,
        *,
        on_cancel: Callable[[], None] | None = None,
        inline: bool = False,
        slow_key: str | None = None,
    ) -> T:
        """Run ``work`` in the connection's thread, after the pending BEGIN and staged writes.

        With ``inline``, it is first tried on the caller's thread (:meth:`_inline`), unless
        ``slow_key`` (its SQL) ran past the budget there within its last :data:`SLOW_SKIPS`
        calls.
        """
        pending = self._pending_begin
        self._pending_begin = None
        staged = self._staged
        if staged:
            self._staged = []
        failing: list[OnError | None] = []  # the staged write that failed, if one did

        def run() -> T:
            if pending is not None:
                self.raw.execute(pending)
            for write, on_error, into in staged:
                failing.append(on_error)
                self._run_batch(write, into)
                failing.pop()
            return work()

        start = time.perf_counter()
        try:
            if inline and self._may_inline(slow_key):
                done, result = self._inline(run, staged, failing, slow_key)
                if done:
                    return cast(T, result)
            # A transaction whose state a cancellation could blur (else nobody waits).
            blurred = pending is not None or self._in_transaction
            job = self._last = self._worker.submit(run if self._waits else self._waiting(run))
            done_in_thread: asyncio.Future[T] = job.future
            try:
                return await done_in_thread
            except asyncio.CancelledError:
                if blurred:
                    if on_cancel is not None:
                        on_cancel()
                    # The call may already be running in the thread (else it is skipped): wait
                    # for its end, so whether the connection is in a transaction is known when
                    # it is rolled back and returned to the pool.
                    await job.wait_over()
                raise
        except BaseException as exc:
            if pending is not None and not self.raw.in_transaction:
                self._in_transaction = False
            translate = failing[0] if failing else None
            error = translate(exc) if translate is not None and isinstance(exc, Exception) else None
            if error is None or error is exc:
                raise
            raise error from exc  # a staged write's failure, as the repository that staged it
        finally:
            record_query(self._stats, time.perf_counter() - start, statements + len(staged))

    def _may_inline(self, slow_key: str | None) -> bool:
        last = self._last
        if last is not None and not last.over:  # the thread is not done with the connection
            return False
        if self._pool.inline_budget <= 0 or self._worker.stopped:
            return False
        slow = self._pool.slow_statements
        skips = None if slow_key is None else slow.get(slow_key)
        if slow_key is None or skips is None:
            return True
        if skips > 1:
            slow[slow_key] = skips - 1
        else:
            del slow[slow_key]
        return False

    def _inline(
        self,
        run: Callable[[], Any],
        staged: Sequence[tuple[Batch, OnError | None, list[Row] | None]],
        failing: list[OnError | None],
        slow_key: str | None,
    ) -> tuple[bool, Any]:
        """``(True, result)`` of ``run`` on the caller's thread, if it ends within the pool's
        ``inline_budget`` without waiting for a lock; else ``(False, None)`` and nothing
        of it stays (its transaction rolled back), for the connection's thread to run it."""
        raw = self.raw
        filled = [(into, len(into)) for _, _, into in staged if into is not None]
        if self._waits:
            raw.execute("PRAGMA busy_timeout=0")  # a lock held elsewhere: give way at once
            self._waits = False
        deadline = time.perf_counter() + self._pool.inline_budget
        raw.set_progress_handler(lambda: time.perf_counter() > deadline, _PROGRESS_STEPS)
        try:
            return True, run()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _GIVE_WAY:
                raise
            if slow_key is not None and exc.sqlite_errorcode == sqlite3.SQLITE_INTERRUPT:
                slow = self._pool.slow_statements
                if len(slow) >= _SLOW_KEPT:
                    slow.clear()
                slow[slow_key] = SLOW_SKIPS
        finally:
            raw.set_progress_handler(None, 0)
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        for into, length in filled:
            del into[length:]
        failing.clear()
        return False, None

    def _waiting(self, run: Callable[[], T]) -> Callable[[], T]:
        """``run``, after setting the busy timeout again: in the connection's thread, SQLite
        waits for a lock another connection holds."""

        def waiting() -> T:
            self.raw.execute(self._pool.busy_timeout)
            self._waits = True
            return run()

        return waiting

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        alone = not self.in_transaction()  # a read of its own: tried on the caller's thread
        return await self._hop(
            lambda: self.raw.execute(sql, args).fetchall(), inline=alone, slow_key=sql
        )

    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        return await self._hop(lambda: self.raw.execute(sql, args).rowcount)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._hop(lambda: self.raw.executemany(sql, rows))

    async def insert_rows(self, insert: InsertRows) -> None:
        if insert.rows:
            await self._hop(lambda: insert_values(self.raw, insert))

    async def begin(self, *, write: bool = True) -> None:
        if write:
            await self._pool.writers.enter()
            self._writing = True
        self._pending_begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        self._in_transaction = True

    def _end_writing(self, *, discarded: bool = False) -> None:
        """Let the next writer in once this connection's write transaction is over."""
        if self._writing and (discarded or not self.raw.in_transaction):
            self._writing = False
            self._pool.writers.leave()

    async def commit(self, batches: Sequence[Batch] = ()) -> None:
        if self._pending_begin is not None and not batches and not self._staged:
            self._pending_begin = None  # nothing was sent: nothing to commit
            self._in_transaction = False
            self._end_writing()
            return

        # Holds True once the caller is cancelled while the batches run: the transaction
        # is then left open, to be rolled back, instead of committed after all. Only a
        # cancellation that arrives during the COMMIT statement itself finds it done.
        abandoned: list[bool] = []

        def run() -> bool:
            for batch in batches:
                self._run_batch(batch)
            if abandoned:
                return False
            self.raw.execute("COMMIT")
            return self._writing and self._pool.checkpointer.after_commit()

        # A whole small transaction (BEGIN, its writes, COMMIT) is tried on the caller's thread.
        whole = self._pending_begin is not None and _rows(self._staged, batches) <= INLINE_ROWS
        try:
            copy = await self._hop(
                run,
                statements=1 + len(batches),
                on_cancel=lambda: abandoned.append(True),
                inline=whole,
            )
            if copy:  # still holding the write lock, in the thread: it syncs the file
                await self._hop(functools.partial(self._pool.checkpointer.catch_up, self.raw))
        finally:
            self._in_transaction = self.raw.in_transaction
            self._end_writing()

    async def rollback(self) -> None:
        self._pending_begin = None
        self._staged = []  # never sent: nothing to undo
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

    def in_transaction(self) -> bool:
        return bool(self.raw.in_transaction or self._pending_begin is not None or self._staged)


def _rows(
    staged: Sequence[tuple[Batch, OnError | None, list[Row] | None]], batches: Sequence[Batch]
) -> int:
    """Rows the staged writes and ``batches`` write."""
    writes = [*(write for write, _, _ in staged), *batches]
    return sum(len(w.rows) if isinstance(w, InsertRows) else len(w[1]) for w in writes)


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
        self._waiting = 0

    async def enter(self) -> None:
        if not self._waiting and not self._lock.locked():
            await self._lock.acquire()  # free and nobody queued: taken at once, no timer
            return
        self._waiting += 1
        try:
            async with asyncio.timeout(self._timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        finally:
            self._waiting -= 1

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
        self.writers = WriterQueue(options.busy_timeout_ms / 1000)
        """The pool's writers, let in one at a time."""
        self.busy_timeout = f"PRAGMA busy_timeout={int(options.busy_timeout_ms)}"
        """How long SQLite waits, in a connection's thread, for a lock held elsewhere."""
        self.inline_budget = options.inline_budget
        """See :class:`PoolOptions` (an attribute, so that a test may turn it off)."""
        self.slow_statements: dict[str, int] = {}
        """SQL that ran past the budget on a caller's thread, with how many of its next
        calls go straight to the connection's thread (:data:`SLOW_SKIPS`)."""

    def _connect(self) -> sqlite3.Connection:
        raw = sqlite3.connect(
            self._path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._options.busy_timeout_ms / 1000,
            cached_statements=512,
        )
        self._use_wal(raw)
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")  # see .sqlite_checkpoints
        raw.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        raw.execute("PRAGMA foreign_keys=ON")
        raw.execute("PRAGMA case_sensitive_like=ON")  # LIKE as on PostgreSQL
        raw.execute(self.busy_timeout)
        return raw

    def _use_wal(self, raw: sqlite3.Connection) -> None:
        """Put the file in WAL mode (it stays so; later connections find it there).

        Changing the journal mode needs the file to itself and SQLite does not
        wait for it (no busy handler), so while other connections write, the
        change is retried for up to the busy timeout.
        """
        if str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        deadline = time.monotonic() + self._options.busy_timeout_ms / 1000
        while True:
            try:
                raw.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    async def _open(self) -> SQLiteConnection:
        worker = _Worker()
        try:
            raw = await worker.call(self._connect)
        except BaseException:
            worker.stop()
            raise
        return SQLiteConnection(raw, worker, self._stats, self)

    async def _close(self, conn: SQLiteConnection) -> None:
        if conn.is_closed():
            return
        closed = conn._worker.call(conn.raw.close)  # in its thread, after any call still running
        conn._worker.stop()
        with contextlib.suppress(Exception):
            await closed

    async def release(self, conn: SQLiteConnection, *, discard: bool = False) -> None:
        if not discard and conn.in_transaction():
            await conn.rollback()
        conn._end_writing(discarded=discard)
        await super().release(conn, discard=discard)

    async def close(self) -> None:
        await super().close()
        await asyncio.to_thread(self.checkpointer.stop)
