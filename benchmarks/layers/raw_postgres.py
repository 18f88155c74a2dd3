"""asyncpg used directly: the reference every PostgreSQL layer is compared with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from benchmarks.layers.audit_by_hand import (
    ENTITY_TYPE,
    ENTRY_COLUMNS,
    INSERT_ENTRY_INTO,
    create_audit_log,
    creation_changes,
)
from benchmarks.layers.base import Layer, StaleVersion, StatementCount
from benchmarks.workload import (
    DEPTH,
    INSERT_COLUMNS,
    LIST_STATUS,
    PAGE_SIZE,
    TABLE,
    NewItem,
    Workload,
)
from sqlalchemy.engine import make_url

from lamina.domain.ids import uuid7
from lamina.persistence.tables import audit_log

COLUMNS = ", ".join(INSERT_COLUMNS)
INSERT = f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
GET = f"SELECT {COLUMNS} FROM {TABLE} WHERE id = $1"
ORDER = "ORDER BY created_at DESC, id DESC"
LIST = f"SELECT {COLUMNS} FROM {TABLE} WHERE status = $1 {ORDER} LIMIT $2"
UPDATE = (
    f"UPDATE {TABLE} SET score = $1, version = version + 1, updated_at = $2 "
    "WHERE id = $3 AND version = $4"
)
FIRST = f"SELECT {COLUMNS} FROM {TABLE} {ORDER} LIMIT $1"
OFFSET = f"SELECT {COLUMNS} FROM {TABLE} {ORDER} LIMIT $1 OFFSET $2"
KEYSET = f"SELECT {COLUMNS} FROM {TABLE} WHERE (created_at, id) < ($1, $2) {ORDER} LIMIT $3"


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://…`` as the plain DSN asyncpg accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def row_values(item: NewItem) -> tuple[Any, ...]:
    """The insert parameters of one row, in ``INSERT_COLUMNS`` order."""
    stamp = item.created_at
    return (item.id, stamp, stamp, None, None, 1, None, item.title, item.status, item.score)


class CountingConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that counts its round trips: each call below is one (an
    ``executemany`` is pipelined; a transaction's BEGIN and COMMIT go through ``execute``)."""

    sent = 0

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return await super().execute(*args, **kwargs)

    async def executemany(self, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return await super().executemany(*args, **kwargs)

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return await super().fetch(*args, **kwargs)

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return await super().fetchrow(*args, **kwargs)

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return await super().fetchval(*args, **kwargs)

    async def copy_records_to_table(self, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return await super().copy_records_to_table(*args, **kwargs)


class AsyncpgLayer(Layer):
    """One asyncpg connection, one statement per operation, autocommit."""

    name = "asyncpg"
    transactions = False

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._conn: CountingConnection | None = None
        self._anchor: tuple[datetime, UUID] | None = None

    @contextmanager
    def count_statements(self) -> Iterator[StatementCount | None]:
        """Count what the connection sends, with asyncpg's query logger (one call per
        statement, per pipelined ``executemany`` and per BEGIN or COMMIT)."""
        count = StatementCount()
        start = self.conn.sent
        try:
            yield count
        finally:
            count.value = self.conn.sent - start

    async def open(self, workload: Workload) -> None:
        self._conn = await asyncpg.connect(
            asyncpg_dsn(self.url), connection_class=CountingConnection
        )
        self._anchor = workload.keyset_anchor

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    @property
    def conn(self) -> CountingConnection:
        assert self._conn is not None, "layer not open"
        return self._conn

    def _txn(self) -> AbstractAsyncContextManager[object]:
        return self.conn.transaction() if self.transactions else nullcontext()

    async def insert_one(self, item: NewItem) -> None:
        async with self._txn():
            await self.conn.execute(INSERT, *row_values(item))

    async def bulk_insert(self, items: list[NewItem]) -> None:
        async with self.conn.transaction():
            await self.conn.executemany(INSERT, [row_values(item) for item in items])

    async def get(self, item_id: UUID) -> object:
        async with self._txn():
            return await self.conn.fetchrow(GET, item_id)

    async def list_page(self) -> object:
        async with self._txn():
            return await self.conn.fetch(LIST, LIST_STATUS, PAGE_SIZE)

    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        async with self._txn():
            status = await self.conn.execute(
                UPDATE, score, datetime.now(UTC), item_id, expected_version
            )
        if status != "UPDATE 1":
            raise StaleVersion(f"{item_id} is not at version {expected_version}")
        return expected_version + 1

    async def first_page(self) -> object:
        async with self._txn():
            return await self.conn.fetch(FIRST, PAGE_SIZE)

    async def offset_page(self) -> object:
        async with self._txn():
            return await self.conn.fetch(OFFSET, PAGE_SIZE, DEPTH)

    async def keyset_page(self) -> object:
        assert self._anchor is not None
        async with self._txn():
            return await self.conn.fetch(KEYSET, *self._anchor, PAGE_SIZE)


class AsyncpgTxnLayer(AsyncpgLayer):
    """asyncpg the way SQLAlchemy drives it: BEGIN … COMMIT around every operation."""

    name = "asyncpg+txn"
    transactions = True
    notes = {"*": "asyncpg+txn: BEGIN/COMMIT around every operation, reads included"}


INSERT_AUDITED = (
    f"WITH inserted AS (INSERT INTO {TABLE} ({COLUMNS}) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)) "
    f"{INSERT_ENTRY_INTO} VALUES ($11, '{ENTITY_TYPE}', $12, 'create', NULL, $13, NULL, "
    "$14::json, $2)"
)
UPDATE_AUDITED = (
    f"WITH old AS (SELECT id, score FROM {TABLE} WHERE id = $3 AND version = $4 "
    "FOR NO KEY UPDATE), "
    f"changed AS (UPDATE {TABLE} AS t SET score = $1, version = t.version + 1, "
    "updated_at = $2 FROM old WHERE t.id = old.id RETURNING t.version, old.score AS old_score), "
    f"entry AS ({INSERT_ENTRY_INTO} SELECT $5, '{ENTITY_TYPE}', $6, 'update', NULL, $7, NULL, "
    "json_build_object('score', json_build_array(old_score, $1::integer)), $2 FROM changed) "
    "SELECT version FROM changed"
)


class AsyncpgAuditLayer(AsyncpgLayer):
    """What lamina's single writes do, by hand through asyncpg: the row and its audit
    entry (in lamina's ``lamina_audit_log``) in one statement, one round trip, autocommit;
    an update's entry takes the old value from the row it locks."""

    name = "asyncpg+audit"
    operations = frozenset({"insert", "update"})
    notes = {
        "insert": "asyncpg+audit: the row and its audit entry in one statement (a "
        "data-modifying WITH), autocommit: the work of lamina's insert",
        "update": "asyncpg+audit: the versioned UPDATE of the row locked for its old value and "
        "the audit entry built from it, in one statement, autocommit: the work of lamina's update",
    }

    async def open(self, workload: Workload) -> None:
        await super().open(workload)
        await create_audit_log(self.url)

    async def insert_one(self, item: NewItem) -> None:
        await self.conn.execute(
            INSERT_AUDITED,
            *row_values(item),
            uuid7(),
            str(item.id),
            str(uuid7()),
            creation_changes(item),
        )

    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        version = await self.conn.fetchval(
            UPDATE_AUDITED,
            score,
            datetime.now(UTC),
            item_id,
            expected_version,
            uuid7(),
            str(item_id),
            str(uuid7()),
        )
        if version is None:
            raise StaleVersion(f"{item_id} is not at version {expected_version}")
        return int(version)


class AsyncpgCopyLayer(AsyncpgLayer):
    """asyncpg's COPY: the fastest way to write many rows, measured on bulk insert only."""

    name = "asyncpg COPY"
    operations = frozenset({"bulk_insert"})
    notes = {"bulk_insert": "asyncpg COPY: the rows alone, by COPY, no audit entries"}

    async def bulk_insert(self, items: list[NewItem]) -> None:
        async with self.conn.transaction():
            await self._copy_rows(items)

    async def _copy_rows(self, items: list[NewItem]) -> None:
        await self.conn.copy_records_to_table(
            TABLE, records=[row_values(item) for item in items], columns=INSERT_COLUMNS
        )


class AsyncpgCopyAuditLayer(AsyncpgCopyLayer):
    """What lamina's bulk insert writes, by hand: the rows and one audit entry per row
    (the entries lamina writes, in its ``lamina_audit_log``), each table by COPY."""

    name = "asyncpg COPY+audit"
    notes = {
        "bulk_insert": "asyncpg COPY+audit: the rows and one audit entry per row (lamina's "
        "entries, built in Python), both by COPY: the work lamina's bulk insert does"
    }

    async def open(self, workload: Workload) -> None:
        await super().open(workload)
        await create_audit_log(self.url)

    async def bulk_insert(self, items: list[NewItem]) -> None:
        now = datetime.now(UTC)
        correlation = str(uuid7())
        entries = [
            (
                uuid7(),
                ENTITY_TYPE,
                str(item.id),
                "create",
                None,
                correlation,
                None,
                creation_changes(item),
                now,
            )
            for item in items
        ]
        async with self.conn.transaction():
            await self._copy_rows(items)
            await self.conn.copy_records_to_table(
                audit_log.name, records=entries, columns=ENTRY_COLUMNS
            )
