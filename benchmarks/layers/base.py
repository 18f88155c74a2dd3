"""What every layer implements: the benchmark operations, and how it counts its statements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import UUID

from benchmarks.workload import NewItem, Workload


class LayerUnavailable(Exception):
    """The layer cannot run here (not importable yet, cannot connect…); the message says why."""


class StaleVersion(Exception):
    """An update with version check changed no row: the harness lost track of a version."""


@dataclass
class StatementCount:
    """Statements a layer sent inside one :meth:`Layer.count_statements` block."""

    value: int = 0


class Layer(ABC):
    """One way of talking to the database, run through every operation of the workload.

    Each method is one timed operation. Statements are counted with BEGIN, COMMIT
    and ROLLBACK included wherever the layer sends them as statements of their own:
    the raw drivers know theirs by construction (:meth:`known_statements`), the
    others count what they send in :meth:`count_statements`.
    """

    name: str = ""
    """Column label in the results table."""
    notes: dict[str, str] = {}
    """Per-operation remarks printed under the table (what this layer does differently)."""
    operations: frozenset[str] | None = None
    """The operations this layer is measured on; None for all (the others show ``-``)."""

    def __init__(self, url: str) -> None:
        self.url = url

    @abstractmethod
    async def open(self, workload: Workload) -> None:
        """Connect, and prepare whatever the operations need (e.g. the deep keyset cursor)."""

    @abstractmethod
    async def close(self) -> None:
        """Release every connection."""

    async def settings(self) -> dict[str, str]:
        """Connection settings that matter for fairness (SQLite pragmas), as observed."""
        return {}

    def known_statements(self, op: str) -> float | None:
        """Statements per call of ``op`` when known by construction (raw drivers)."""
        return None

    @contextmanager
    def count_statements(self) -> Iterator[StatementCount | None]:
        """Count statements sent inside the block; None when the layer cannot count."""
        yield None

    @abstractmethod
    async def insert_one(self, item: NewItem) -> None:
        """Insert one row in its own transaction."""

    @abstractmethod
    async def bulk_insert(self, items: list[NewItem]) -> None:
        """Insert all ``items`` in one transaction, as fast as the layer allows."""

    @abstractmethod
    async def get(self, item_id: UUID) -> object:
        """Fetch one row by primary key."""

    @abstractmethod
    async def list_page(self) -> object:
        """``WHERE status = 'open' ORDER BY created_at DESC, id DESC LIMIT 50``."""

    @abstractmethod
    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        """Set ``score`` if the row still has ``expected_version``; return the new version.

        Raises :class:`StaleVersion` (or the layer's own conflict error) when no row matched.
        """

    @abstractmethod
    async def first_page(self) -> object:
        """The first page of 50 in ``created_at DESC, id DESC`` order."""

    @abstractmethod
    async def offset_page(self) -> object:
        """The page at depth ``DEPTH`` by ``OFFSET``."""

    @abstractmethod
    async def keyset_page(self) -> object:
        """The page at depth ``DEPTH`` by keyset (after the anchor row)."""
