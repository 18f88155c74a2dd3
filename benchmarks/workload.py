"""The workload every layer runs: the table, the seeded rows and the values each operation uses.

All layers share one ``bench_items`` table per database, seeded once. Seeded rows
come in pairs that share a ``created_at`` so keyset paging has to use the ``id``
tie-breaker. Rows written by the write benchmarks carry ``status = 'new'`` and are
deleted again between rounds (untimed), so every layer sees the same table.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
)

from lamina.domain.ids import uuid7

TABLE = "bench_items"
SEED_ROWS = 20_000
BULK_ROWS = 10_000
PAGE_SIZE = 50
DEPTH = 9_950
"""Offset of the deep page: rows 9,950 to 9,999 in ``created_at DESC, id DESC`` order."""
LIST_STATUS = "open"
NEW_STATUS = "new"
"""Status of rows written by the insert benchmarks; they are deleted between rounds."""
STATUSES = ("open", "closed", "pending", "archived")
SAMPLE_IDS = 2_000
"""How many seeded ids the get and update benchmarks cycle through."""

metadata = MetaData()

bench_items = Table(
    TABLE,
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by_id", Uuid(), nullable=True),
    Column("updated_by_id", Uuid(), nullable=True),
    Column("version", Integer(), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Column("title", String(), nullable=False),
    Column("status", String(), nullable=False),
    Column("score", Integer(), nullable=False),
    Index("ix_bench_items_status", "status"),
    Index("ix_bench_items_deleted_at", "deleted_at"),
    Index("ix_bench_items_created_at_id", "created_at", "id", "deleted_at"),
)
"""The table, column for column what lamina's ``StandardColumns`` + ``SoftDeleteColumn`` make.

``ix_bench_items_created_at_id`` matches the sort ``created_at DESC, id DESC``
including the tie-breaker, so a keyset page at any depth is an index range scan.
It ends with ``deleted_at``, as lamina's ``live_index`` makes it: reads that hide
soft-deleted rows check that from the index, so an offset page does not read the
rows it skips. Every layer shares this table and index; the layers that do not
filter ``deleted_at`` use it exactly as they would ``(created_at, id)``.
"""

INSERT_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "created_by_id",
    "updated_by_id",
    "version",
    "deleted_at",
    "title",
    "status",
    "score",
)


@dataclass(frozen=True, slots=True)
class NewItem:
    """The values of one row to insert, made before the timed call."""

    id: UUID
    title: str
    status: str
    score: int
    created_at: datetime


def new_items(count: int, status: str = NEW_STATUS) -> list[NewItem]:
    """``count`` fresh rows to insert, all stamped now."""
    now = datetime.now(UTC)
    return [
        NewItem(id=uuid7(), title=f"item {i}", status=status, score=i % 100, created_at=now)
        for i in range(count)
    ]


def seed_rows(count: int = SEED_ROWS) -> list[dict[str, object]]:
    """The seeded rows as column dicts; row ``i`` is older than row ``i + 1`` (ties in pairs)."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows: list[dict[str, object]] = []
    for i in range(count):
        stamp = base + timedelta(seconds=i // 2)
        rows.append(
            {
                "id": uuid7(),
                "created_at": stamp,
                "updated_at": stamp,
                "created_by_id": None,
                "updated_by_id": None,
                "version": 1,
                "deleted_at": None,
                "title": f"seeded item {i}",
                "status": STATUSES[i % len(STATUSES)],
                "score": i % 1000,
            }
        )
    return rows


@dataclass
class Workload:
    """What the operations need to know about the seeded table, shared by every layer.

    ``versions`` is the current version of each row the update benchmark touches;
    layers run one after another, so each reads it, updates with it and stores the
    new version.
    """

    get_ids: list[UUID]
    update_ids: list[UUID]
    keyset_anchor: tuple[datetime, UUID]
    """Sort values of the last row before the deep page (position ``DEPTH - 1``)."""
    versions: dict[UUID, int] = field(default_factory=dict)
    expected_ids: dict[str, list[UUID]] = field(default_factory=dict)
    """What each read operation must return, in order (checked once per layer, untimed)."""

    @classmethod
    def from_seed(cls, rows: list[dict[str, object]]) -> Workload:
        """Sample ids for get and update, and find the keyset anchor of the deep page."""
        ids = [row["id"] for row in rows]
        picker = random.Random(20_000)
        get_ids = picker.sample(ids, SAMPLE_IDS)
        update_ids = picker.sample(ids, SAMPLE_IDS)
        newest_first = rows[::-1]
        anchor = newest_first[DEPTH - 1]
        open_rows = [row for row in newest_first if row["status"] == LIST_STATUS]
        expected = {
            "get": [get_ids[0]],
            "list": [row["id"] for row in open_rows[:PAGE_SIZE]],
            "page_first": [row["id"] for row in newest_first[:PAGE_SIZE]],
            "page_offset": [row["id"] for row in newest_first[DEPTH : DEPTH + PAGE_SIZE]],
            "page_keyset": [row["id"] for row in newest_first[DEPTH : DEPTH + PAGE_SIZE]],
        }
        return cls(
            get_ids=get_ids,  # type: ignore[arg-type]
            update_ids=update_ids,  # type: ignore[arg-type]
            keyset_anchor=(anchor["created_at"], anchor["id"]),  # type: ignore[arg-type]
            versions=dict.fromkeys(update_ids, 1),  # type: ignore[arg-type]
            expected_ids=expected,  # type: ignore[arg-type]
        )

    def cycle_get_ids(self) -> Iterator[UUID]:
        """The get benchmark's ids, round and round."""
        while True:
            yield from self.get_ids

    def cycle_update_ids(self) -> Iterator[UUID]:
        """The update benchmark's ids, round and round."""
        while True:
            yield from self.update_ids


def sqlite_stamp(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite (so every layer reads the same text)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
