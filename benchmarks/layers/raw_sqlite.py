"""SQLite used directly: ``sqlite3`` (synchronous) and ``aiosqlite`` (its async wrapper).

Values are stored as SQLAlchemy stores them (UUID as 32 hex digits, datetimes as
``YYYY-MM-DD HH:MM:SS.ffffff`` UTC text), so all layers read and write the same rows.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiosqlite
from benchmarks.layers.audit_by_hand import (
    ENTITY_TYPE,
    INSERT_ENTRY_INTO,
    create_audit_log,
    creation_changes,
)
from benchmarks.layers.base import Layer, StaleVersion
from benchmarks.workload import (
    DEPTH,
    INSERT_COLUMNS,
    LIST_STATUS,
    PAGE_SIZE,
    TABLE,
    NewItem,
    Workload,
    sqlite_stamp,
)
from sqlalchemy.engine import make_url

from lamina.domain.ids import uuid7

COLUMNS = ", ".join(INSERT_COLUMNS)
INSERT = f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
GET = f"SELECT {COLUMNS} FROM {TABLE} WHERE id = ?"
ORDER = "ORDER BY created_at DESC, id DESC"
LIST = f"SELECT {COLUMNS} FROM {TABLE} WHERE status = ? {ORDER} LIMIT ?"
UPDATE = (
    f"UPDATE {TABLE} SET score = ?, version = version + 1, updated_at = ? "
    "WHERE id = ? AND version = ?"
)
FIRST = f"SELECT {COLUMNS} FROM {TABLE} {ORDER} LIMIT ?"
OFFSET = f"SELECT {COLUMNS} FROM {TABLE} {ORDER} LIMIT ? OFFSET ?"
KEYSET = f"SELECT {COLUMNS} FROM {TABLE} WHERE (created_at, id) < (?, ?) {ORDER} LIMIT ?"

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000")
"""Applied by every SQLite layer of the harness, so the comparison is fair."""


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite+aiosqlite:///…`` URL."""
    database = make_url(url).database
    assert database, f"no SQLite file in {url}"
    return database


def row_values(item: NewItem) -> tuple[Any, ...]:
    """The insert parameters of one row, in ``INSERT_COLUMNS`` order, as SQLite stores them."""
    stamp = sqlite_stamp(item.created_at)
    return (item.id.hex, stamp, stamp, None, None, 1, None, item.title, item.status, item.score)


def known_statements(op: str) -> float:
    """A write is its statement and a COMMIT (the driver's implicit BEGIN is not a call)."""
    return 2.0 if op in ("insert", "bulk_insert", "update") else 1.0


def anchor_values(anchor: tuple[datetime, UUID]) -> tuple[str, str]:
    """The keyset anchor as stored values."""
    return sqlite_stamp(anchor[0]), anchor[1].hex


class Sqlite3Layer(Layer):
    """The standard library's synchronous ``sqlite3``: the floor of what SQLite can do here."""

    name = "sqlite3 (sync)"
    notes = {"*": "sqlite3 (sync): blocks the event loop; a reference, not an option for a server"}

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._conn: sqlite3.Connection | None = None
        self._anchor: tuple[str, str] = ("", "")

    def known_statements(self, op: str) -> float | None:
        return known_statements(op)

    async def open(self, workload: Workload) -> None:
        self._conn = sqlite3.connect(sqlite_path(self.url))
        for pragma in PRAGMAS:
            self._conn.execute(pragma)
        self._anchor = anchor_values(workload.keyset_anchor)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    @property
    def conn(self) -> sqlite3.Connection:
        assert self._conn is not None, "layer not open"
        return self._conn

    async def settings(self) -> dict[str, str]:
        return {
            "journal_mode": str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]),
            "synchronous": str(self.conn.execute("PRAGMA synchronous").fetchone()[0]),
        }

    async def insert_one(self, item: NewItem) -> None:
        self.conn.execute(INSERT, row_values(item))
        self.conn.commit()

    async def bulk_insert(self, items: list[NewItem]) -> None:
        self.conn.executemany(INSERT, [row_values(item) for item in items])
        self.conn.commit()

    async def get(self, item_id: UUID) -> object:
        return self.conn.execute(GET, (item_id.hex,)).fetchone()

    async def list_page(self) -> object:
        return self.conn.execute(LIST, (LIST_STATUS, PAGE_SIZE)).fetchall()

    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        stamp = sqlite_stamp(datetime.now(UTC))
        cursor = self.conn.execute(UPDATE, (score, stamp, item_id.hex, expected_version))
        self.conn.commit()
        if cursor.rowcount != 1:
            raise StaleVersion(f"{item_id} is not at version {expected_version}")
        return expected_version + 1

    async def first_page(self) -> object:
        return self.conn.execute(FIRST, (PAGE_SIZE,)).fetchall()

    async def offset_page(self) -> object:
        return self.conn.execute(OFFSET, (PAGE_SIZE, DEPTH)).fetchall()

    async def keyset_page(self) -> object:
        return self.conn.execute(KEYSET, (*self._anchor, PAGE_SIZE)).fetchall()


class AiosqliteLayer(Layer):
    """``aiosqlite`` with a commit per write: the raw async driver, reference for SQLite."""

    name = "aiosqlite"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._conn: aiosqlite.Connection | None = None
        self._anchor: tuple[str, str] = ("", "")

    def known_statements(self, op: str) -> float | None:
        return known_statements(op)

    async def open(self, workload: Workload) -> None:
        self._conn = await aiosqlite.connect(sqlite_path(self.url))
        for pragma in PRAGMAS:
            await self._conn.execute(pragma)
        self._anchor = anchor_values(workload.keyset_anchor)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        assert self._conn is not None, "layer not open"
        return self._conn

    async def settings(self) -> dict[str, str]:
        journal = await self.conn.execute_fetchall("PRAGMA journal_mode")
        synchronous = await self.conn.execute_fetchall("PRAGMA synchronous")
        return {
            "journal_mode": str(next(iter(journal))[0]),
            "synchronous": str(next(iter(synchronous))[0]),
        }

    async def insert_one(self, item: NewItem) -> None:
        await self.conn.execute(INSERT, row_values(item))
        await self.conn.commit()

    async def bulk_insert(self, items: list[NewItem]) -> None:
        await self.conn.executemany(INSERT, [row_values(item) for item in items])
        await self.conn.commit()

    async def get(self, item_id: UUID) -> object:
        rows = await self.conn.execute_fetchall(GET, (item_id.hex,))
        return next(iter(rows), None)

    async def list_page(self) -> object:
        return await self.conn.execute_fetchall(LIST, (LIST_STATUS, PAGE_SIZE))

    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        stamp = sqlite_stamp(datetime.now(UTC))
        cursor = await self.conn.execute(UPDATE, (score, stamp, item_id.hex, expected_version))
        await self.conn.commit()
        if cursor.rowcount != 1:
            raise StaleVersion(f"{item_id} is not at version {expected_version}")
        return expected_version + 1

    async def first_page(self) -> object:
        return await self.conn.execute_fetchall(FIRST, (PAGE_SIZE,))

    async def offset_page(self) -> object:
        return await self.conn.execute_fetchall(OFFSET, (PAGE_SIZE, DEPTH))

    async def keyset_page(self) -> object:
        return await self.conn.execute_fetchall(KEYSET, (*self._anchor, PAGE_SIZE))


INSERT_ENTRY = f"{INSERT_ENTRY_INTO} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
UPDATE_ENTRY = (
    f"{INSERT_ENTRY_INTO} "
    f"SELECT ?, '{ENTITY_TYPE}', ?, 'update', NULL, ?, NULL, "
    "json_object('score', json_array(score, ?)), ? "
    f"FROM {TABLE} WHERE id = ? AND version = ?"
)
"""The update's audit entry, reading the old score from the row it is about to change."""


class AiosqliteAuditLayer(AiosqliteLayer):
    """What lamina's single writes do, by hand through aiosqlite's public API: the row and
    one audit entry (in lamina's ``lamina_audit_log``), in one transaction."""

    name = "aiosqlite+audit"
    operations = frozenset({"insert", "update"})
    notes = {
        "update": "aiosqlite+audit: INSERT of the audit entry reading the old value, the "
        "UPDATE with version check, COMMIT (three calls, each a hop): the work of lamina's update",
        "insert": "aiosqlite+audit: INSERT of the row and of its audit entry, COMMIT",
    }

    def known_statements(self, op: str) -> float | None:
        return 3.0 if op in self.operations else known_statements(op)

    async def open(self, workload: Workload) -> None:
        await super().open(workload)
        await create_audit_log(self.url)

    async def insert_one(self, item: NewItem) -> None:
        entry = (
            uuid7().hex,
            ENTITY_TYPE,
            str(item.id),
            "create",
            None,
            str(uuid7()),
            None,
            creation_changes(item),
            sqlite_stamp(item.created_at),
        )
        await self.conn.execute(INSERT, row_values(item))  # BEGIN travels with it
        await self.conn.execute(INSERT_ENTRY, entry)
        await self.conn.commit()

    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        stamp = sqlite_stamp(datetime.now(UTC))
        key = item_id.hex
        entry = (uuid7().hex, str(item_id), str(uuid7()), score, stamp, key, expected_version)
        await self.conn.execute(UPDATE_ENTRY, entry)  # BEGIN travels with it
        cursor = await self.conn.execute(UPDATE, (score, stamp, key, expected_version))
        await self.conn.commit()
        if cursor.rowcount != 1:
            raise StaleVersion(f"{item_id} is not at version {expected_version}")
        return expected_version + 1
