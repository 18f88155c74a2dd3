"""A bounded pool of driver connections, opened on demand, and its settings."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

from lamina.persistence.connection import Connection
from lamina.persistence.instrumentation import DatabaseStats


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool settings.

    ``lock_timeout`` (PostgreSQL) bounds how long a statement waits for a row
    or table lock another transaction holds; past it the statement fails as a
    transient error and :meth:`Database.run` retries the unit of work. On
    SQLite, ``busy_timeout_ms`` bounds each of the two waits for the write
    lock: behind this pool's other writers, then behind other processes'.

    ``inline_budget`` (SQLite) is how long, in seconds, a read of its own or a
    whole small write transaction may run on the caller's thread, where it
    costs no hop to the connection's thread; SQLite stops one that runs longer
    (or would wait for a lock another connection holds) and the connection's
    thread runs it instead. 0 sends every call to the connection's thread.
    """

    size: int = 10
    acquire_timeout: float = 10.0
    statement_timeout: float | None = 30.0
    lock_timeout: float | None = 2.0
    busy_timeout_ms: int = 5000
    inline_budget: float = 0.0005


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
                if not conn.is_closed() and await self._usable(conn):
                    return conn
                self._all.discard(conn)
                await self._close(conn)
            conn = await self._open()
        except BaseException:
            self._slots.release()
            raise
        self._all.add(conn)
        return conn

    async def _usable(self, conn: C) -> bool:
        """Whether an idle connection may be lent out (a driver may clean it up first)."""
        return True

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
