"""lamina's repository bound to its ``Database``: each write is a transaction with its audit entry.

Imported lazily by :func:`benchmarks.run.lamina_layer`: while lamina's persistence API is
incomplete the harness skips this layer and prints why.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from benchmarks.layers.base import Layer, StatementCount
from benchmarks.workload import DEPTH, LIST_STATUS, PAGE_SIZE, TABLE, NewItem, Workload
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.domain import ActorTracked, Entity, SoftDeletable, Timestamped, Versioned
from lamina.persistence import (
    Database,
    Repository,
    SoftDeleteColumn,
    StandardColumns,
    live_index,
    where,
)
from lamina.persistence.base import TYPE_ANNOTATION_MAP, new_metadata
from lamina.persistence.instrumentation import count_queries

ENTITY_NAME = "BenchItem"
NEWEST_FIRST = ["-created_at"]


class BenchBase(DeclarativeBase):
    """A private declarative base: the harness's rows stay out of lamina's shared ``Base``."""

    metadata = new_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


class BenchItem(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    """The benchmark's entity."""

    __entity_name__ = ENTITY_NAME

    title: str
    status: str
    score: int


class BenchItemRow(BenchBase, StandardColumns, SoftDeleteColumn):
    """The row: the same ``bench_items`` table the other layers use (created by the harness)."""

    __tablename__ = TABLE
    __table_args__ = (live_index("ix_bench_items_created_at_id", "created_at", "id"),)

    title: Mapped[str]
    status: Mapped[str] = mapped_column(index=True)
    score: Mapped[int]


class BenchItems(Repository[BenchItem, BenchItemRow]):
    """The repository under test."""

    filterable = ("status", "score")
    sortable = ("created_at", "score")


class LaminaLayer(Layer):
    """``BenchItems(db)``: lamina's repository, writes with their audit entries."""

    name = "lamina"
    notes = {
        "insert": "lamina writes include the audit entry in the same transaction",
        "bulk_insert": "lamina bulk: repo.add_many, one audit entry per row",
        "update": "lamina update: repo.update(id, changes, expected_version) + its audit entry",
        "page_keyset": "lamina keyset at depth: cursor obtained once by walking 199 pages",
    }

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._db: Database | None = None
        self._repo: BenchItems | None = None
        self._deep_cursor: Any = None

    async def open(self, workload: Workload) -> None:
        self._db = Database(self.url)
        await self._db.create_all(BenchBase.metadata)
        self._repo = BenchItems(self._db)
        cursor = None
        for _ in range(DEPTH // PAGE_SIZE):
            page = await self._repo.keyset_page(
                order_by=NEWEST_FIRST, limit=PAGE_SIZE, cursor=cursor
            )
            cursor = page.next_cursor
        self._deep_cursor = cursor

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()

    @property
    def repo(self) -> BenchItems:
        assert self._repo is not None, "layer not open"
        return self._repo

    @property
    def db(self) -> Database:
        assert self._db is not None, "layer not open"
        return self._db

    async def settings(self) -> dict[str, str]:
        if self.db.dialect_name != "sqlite":
            return {}
        async with self.db.connection() as conn:
            journal = (await conn.fetch("PRAGMA journal_mode", []))[0][0]
            synchronous = (await conn.fetch("PRAGMA synchronous", []))[0][0]
        return {"journal_mode": str(journal), "synchronous": str(synchronous)}

    @contextmanager
    def count_statements(self) -> Iterator[StatementCount | None]:
        count = StatementCount()
        with count_queries() as tally:
            yield count
        count.value = tally.round_trips  # on SQLite, hops to the connection's thread

    async def insert_one(self, item: NewItem) -> None:
        await self.repo.add(
            BenchItem(id=item.id, title=item.title, status=item.status, score=item.score)
        )

    async def bulk_insert(self, items: list[NewItem]) -> None:
        await self.repo.add_many(
            [BenchItem(id=i.id, title=i.title, status=i.status, score=i.score) for i in items]
        )

    async def get(self, item_id: UUID) -> object:
        return await self.repo.get(item_id)

    async def list_page(self) -> object:
        return await self.repo.list(
            where("status") == LIST_STATUS, order_by=NEWEST_FIRST, limit=PAGE_SIZE
        )

    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        updated = await self.repo.update(
            item_id, {"score": score}, expected_version=expected_version
        )
        return int(updated.version)

    async def first_page(self) -> object:
        return await self.repo.keyset_page(order_by=NEWEST_FIRST, limit=PAGE_SIZE, cursor=None)

    async def offset_page(self) -> object:
        return await self.repo.page(order_by=NEWEST_FIRST, limit=PAGE_SIZE, offset=DEPTH)

    async def keyset_page(self) -> object:
        return await self.repo.keyset_page(
            order_by=NEWEST_FIRST, limit=PAGE_SIZE, cursor=self._deep_cursor
        )
