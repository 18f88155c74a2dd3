"""The ``Database``: one object owning the connection pool, statements and retry policy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import MetaData
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from lamina.domain.errors import Unavailable
from lamina.persistence.connection import Batch, Connection, OnError, Row
from lamina.persistence.errors import ConnectionLost, is_connection_error, is_transient
from lamina.persistence.instrumentation import DatabaseStats
from lamina.persistence.keyring import Keyring
from lamina.persistence.pool import Pool, PoolOptions, PoolUsage
from lamina.persistence.statements import StatementCache, dialect_for
from lamina.persistence.tables import lamina_metadata
from lamina.persistence.unit_of_work import UnitOfWork

T = TypeVar("T")

DATABASE_URL_VAR = "LAMINA_DATABASE_URL"
SECRET_KEY_VAR = "LAMINA_SECRET_KEY"
DEFAULT_URL = "sqlite+aiosqlite:///./lamina.db"

logger = logging.getLogger("lamina.persistence")


@dataclass(frozen=True)
class RetryPolicy:
    """How :meth:`Database.run` re-runs a unit of work after a transient failure.

    Transient: a serialization failure, deadlock or lock wait past
    ``lock_timeout`` (PostgreSQL), a busy database (SQLite), or a connection
    lost before commit. A failure during commit is never retried: its outcome
    is unknown. No attempt starts later than ``deadline`` seconds after the
    first, so a unit of work that cannot get through fails promptly with
    :class:`~lamina.domain.Unavailable` (a 503 with ``Retry-After`` over HTTP)
    instead of keeping its caller waiting (G15).
    """

    attempts: int = 5
    base_delay: float = 0.02
    max_delay: float = 1.0
    deadline: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (exponential, with jitter)."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return float(random.uniform(ceiling / 2, ceiling))


def normalize_url(url: str) -> URL:
    """An async SQLAlchemy URL: ``postgresql://`` gets asyncpg, ``sqlite://`` gets aiosqlite."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("lamina needs an SQLite file, not an in-memory database")
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ValueError(f"unsupported database {backend!r}: use PostgreSQL or SQLite")


def _log_failed_release(returning: asyncio.Future[None]) -> None:
    if not returning.cancelled() and returning.exception() is not None:
        logger.warning("could not return a connection to the pool", exc_info=returning.exception())


class Database:
    """The database an application talks to.

    ``url`` defaults to ``$LAMINA_DATABASE_URL``, else an SQLite file
    ``./lamina.db``. SQLite runs in WAL mode with foreign keys on and a busy
    timeout; PostgreSQL runs on asyncpg. Use as ``async with Database() as db``
    or call :meth:`close` at shutdown.

    ``secret_key`` signs pagination cursors; it defaults to
    ``$LAMINA_SECRET_KEY``, else a random key for this process (cursors then
    do not survive a restart or cross processes).

    ``keyring`` holds the keys of encrypted fields and blind indexes; it
    defaults to :meth:`Keyring.from_env` (``$LAMINA_KEYS``…). Keys never live
    in the database.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        pool: PoolOptions | None = None,
        retry: RetryPolicy | None = None,
        secret_key: str | bytes | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        self.url: URL = normalize_url(url or os.environ.get(DATABASE_URL_VAR) or DEFAULT_URL)
        self.dialect_name: str = self.url.get_backend_name()
        self.pool_options = pool or PoolOptions()
        self.retry = retry or RetryPolicy()
        key = secret_key if secret_key is not None else os.environ.get(SECRET_KEY_VAR)
        if key is None:
            key = secrets.token_bytes(32)
        self.secret_key: bytes = key.encode() if isinstance(key, str) else key
        self.keyring: Keyring = keyring if keyring is not None else Keyring.from_env()
        self.stats = DatabaseStats()
        self.statements = StatementCache(dialect_for(self.dialect_name))
        self._pool: Pool[Any] = self._make_pool()
        self._engine: AsyncEngine | None = None
        self._commit_listeners: list[Callable[[int], None]] = []

    def _make_pool(self) -> Pool[Any]:
        # Each driver is imported only when used: an application on SQLite runs without asyncpg.
        if self.dialect_name == "postgresql":
            from lamina.persistence.postgres_driver import PostgresPool

            dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            return PostgresPool(dsn, self.pool_options, self.stats)
        from lamina.persistence.sqlite_driver import SQLitePool

        path = str(self.url.database)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SQLitePool(path, self.pool_options, self.stats)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection (the object can be used again afterwards)."""
        if self._engine is not None:  # first: see sqlite_checkpoints.open_wal_index
            await self._engine.dispose()
            self._engine = None
        await self._pool.close()
        self._pool = self._make_pool()

    @property
    def engine(self) -> AsyncEngine:
        """A SQLAlchemy ``AsyncEngine`` on the same database (for migrations, DDL, ORM code)."""
        if self._engine is None:
            self._engine = create_async_engine(self.url, pool_pre_ping=True)
        return self._engine

    async def create_all(self, *metadata: MetaData) -> None:
        """Create lamina's tables and those of ``metadata`` that do not exist (tests, demos).

        Applications use migrations (``lamina db upgrade``) instead.
        """
        async with self.engine.begin() as conn:
            for md in (lamina_metadata, *metadata):
                await conn.run_sync(md.create_all)

    async def drop_all(self, *metadata: MetaData) -> None:
        """Drop the tables of ``metadata`` and lamina's own tables."""
        async with self.engine.begin() as conn:
            for md in (*reversed(metadata), lamina_metadata):
                await conn.run_sync(md.drop_all)

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work; use as ``async with db.unit_of_work() as uow:``."""
        return UnitOfWork(self, read_only=read_only)

    async def run(self, use_case: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run ``use_case(uow)`` in a unit of work, re-running it after transient failures.

        ``use_case`` may run several times, so it must not have effects outside
        the database. Domain errors (``VersionConflict`` included) are never
        retried; they are the use case's answer.
        """
        attempt = 0
        give_up_at = time.monotonic() + self.retry.deadline
        while True:
            try:
                async with self.unit_of_work() as uow:
                    return await use_case(uow)
            except Exception as exc:
                if not (isinstance(exc, ConnectionLost) or is_transient(exc)):
                    raise
                delay = self.retry.delay(attempt)
                if attempt + 1 >= self.retry.attempts or time.monotonic() + delay > give_up_at:
                    logger.warning(
                        "unit of work given up after %d attempts: %s",
                        attempt + 1,
                        type(exc).__name__,
                    )
                    if is_transient(exc):
                        raise Unavailable("the database stayed busy; try again") from exc
                    raise
                self.stats.retries += 1
                logger.info("retrying unit of work after %s", type(exc).__name__)
                await asyncio.sleep(delay)
                attempt += 1

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work of its own, committed at the end (for database-bound repositories)."""
        async with self.unit_of_work() as uow:
            yield uow

    async def write_alone(
        self,
        writes: Sequence[tuple[Batch, OnError | None, list[Row] | None]],
        *,
        audit_entries: int = 0,
    ) -> None:
        """Run ``writes`` as a transaction of their own, sent with its BEGIN and COMMIT in
        one call (SQLite: one hop to the connection's thread, see :meth:`Connection.stage`).

        What a unit of work around them would do, for a standalone repository write that
        holds nothing else: the same write lock, commit, rollback and statistics
        (``audit_entries``: the audit entries among ``writes``). Each write is
        ``(batch, on_error, into)`` as :meth:`Connection.stage` takes them.
        """
        conn = await self.acquire()
        try:
            await conn.begin(write=True)
        except BaseException as exc:
            await self.release(conn, failed=exc)
            if is_connection_error(exc):
                raise ConnectionLost("could not start a transaction") from exc
            raise
        failure: BaseException | None = None
        try:
            for write, on_error, into in writes:
                if not conn.stage(write, on_error, into=into):
                    raise RuntimeError(f"{self.dialect_name} does not stage writes")
            await conn.commit()
        except BaseException as exc:
            failure = exc
            await conn.rollback()
            self.stats.rollbacks += 1
            if is_connection_error(exc):
                raise Unavailable(
                    "the database connection was lost while committing; the outcome is unknown"
                ) from exc
            raise
        finally:
            await self.release(conn, failed=failure)
        self.stats.transactions += 1
        self.stats.audit_entries += audit_entries

    def connection(self, *, writes: bool = False) -> AbstractAsyncContextManager[Connection]:
        """A connection outside any transaction, for a single read (or, with ``writes``, a
        single statement that commits on its own).

        ``async with db.connection() as conn:`` is :meth:`acquire` and :meth:`release`
        around the block, with a lost connection raised as :class:`ConnectionLost`
        (safe to retry). With ``writes`` a lost connection leaves the outcome unknown:
        it is raised as :class:`Unavailable`, which nothing retries.
        """
        return _Borrowed(self, writes)

    def pool_usage(self) -> PoolUsage:
        """The connection pool's size, open connections and connections in use."""
        return self._pool.usage()

    async def ping(self) -> None:
        """Check that the database answers; raises :class:`Unavailable` if it does not."""
        async with self.connection() as conn:
            await conn.fetch("SELECT 1", [])

    async def acquire(self) -> Connection:
        """Borrow a connection from the pool; give it back with :meth:`release`.

        Waits up to ``PoolOptions.acquire_timeout`` when every connection is in
        use. Raises :class:`ConnectionLost` when the database cannot be reached
        or no connection became free in time. Most code wants :meth:`connection`
        or a unit of work instead, which release for you.
        """
        try:
            conn: Connection = await self._pool.acquire()
            return conn
        except (TimeoutError, OSError) as exc:
            raise ConnectionLost("the database cannot be reached") from exc
        except Exception as exc:
            if is_connection_error(exc):
                raise ConnectionLost("the database cannot be reached") from exc
            raise

    async def release(self, conn: Connection, *, failed: BaseException | None = None) -> None:
        """Give back a connection taken with :meth:`acquire`; never raises.

        ``failed`` is the exception that ended its use, if any: a connection
        that was lost (or closed) is discarded rather than lent out again. End
        any transaction begun on it (commit or rollback) before releasing it.
        """
        # A cancelled use may have left a statement in flight (a BEGIN whose reply comes
        # later): its connection's state is unknown, so it is closed, not lent out again.
        unknown = isinstance(failed, asyncio.CancelledError)
        discard = (
            conn.is_closed() or unknown or (failed is not None and is_connection_error(failed))
        )
        if not discard and not conn.in_transaction():  # nothing to await: nothing to shield
            try:
                await self._pool.release(conn)
            except Exception:
                logger.warning("could not return a connection to the pool", exc_info=True)
            return
        # Shielded: a cancellation (anyio's come again at every await) must not stop the
        # rollback of a transaction left open, nor keep the pool's slot and write lock.
        returning = asyncio.ensure_future(self._pool.release(conn, discard=discard))
        returning.add_done_callback(_log_failed_release)
        with contextlib.suppress(Exception):  # logged by _log_failed_release
            await asyncio.shield(returning)

    def on_events_committed(self, listener: Callable[[int], None]) -> Callable[[], None]:
        """Call ``listener(count)`` in this process after a commit that appended events.

        Returns a function that removes the listener again.
        """
        self._commit_listeners.append(listener)

        def remove() -> None:
            if listener in self._commit_listeners:
                self._commit_listeners.remove(listener)

        return remove

    def _events_committed(self, count: int) -> None:
        for listener in self._commit_listeners:
            listener(count)


class _Borrowed(AbstractAsyncContextManager[Connection]):
    """:meth:`Database.connection`: a class, not a generator, as every single read and
    standalone write goes through it."""

    __slots__ = ("_conn", "_db", "_writes")

    def __init__(self, db: Database, writes: bool) -> None:
        self._db = db
        self._writes = writes

    async def __aenter__(self) -> Connection:
        self._conn: Connection = await self._db.acquire()
        return self._conn

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        failure: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if failure is not None and is_connection_error(failure):
                if self._writes:
                    raise Unavailable(
                        "the database connection was lost while writing; the outcome is unknown"
                    ) from failure
                raise ConnectionLost("the database connection was lost") from failure
        finally:
            await self._db.release(self._conn, failed=failure)
