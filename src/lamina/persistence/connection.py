"""The connection every driver provides, and the writes it sends with a commit.

lamina builds every statement with SQLAlchemy Core and compiles it once
(:mod:`lamina.persistence.statements`), then sends it straight to the driver
through a :class:`Connection`: this skips SQLAlchemy's per-call execution
machinery, which costs more than the database itself for small statements
(README, "How it is fast"). Values are always bound parameters, never formatted
into SQL. The drivers are :mod:`lamina.persistence.postgres_driver` (asyncpg)
and :mod:`lamina.persistence.sqlite_driver` (``sqlite3`` in worker threads);
:mod:`lamina.persistence.pool` lends their connections out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lamina.persistence.instrumentation import DatabaseStats

Row = Sequence[Any]

COPY_THRESHOLD = 64
"""From this many rows, :class:`InsertRows` on PostgreSQL use COPY instead of a pipelined INSERT."""


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

OnError = Callable[[BaseException], BaseException | None]
"""What a staged write's failure stands for (the domain error of the repository that
staged it), or None to raise the driver's own."""


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

    def stage(
        self, write: Batch, on_error: OnError | None = None, *, into: list[Row] | None = None
    ) -> bool:
        """Send ``write`` with this connection's next call (a statement or the commit) instead
        of on its own, if the driver can; False if it cannot (the caller sends it).

        Only for a write whose outcome the caller already knows but for a broken rule
        (unique, foreign key, CHECK): one that changes a row read, with its version
        checked, in this transaction, or an insert; or a write whose outcome the caller
        reads once the transaction is committed (``into`` receives the rows a one-row
        statement returns, unconverted). A failure of ``write`` is raised by the call it
        travels with, as ``on_error`` makes it. Nothing is staged by default.
        """
        return False

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

    @abstractmethod
    def in_transaction(self) -> bool:
        """True if a transaction begun on it may still be open (its pool rolls it back)."""
