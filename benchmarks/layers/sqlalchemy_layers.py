"""SQLAlchemy's async Core and ORM, used as an application would: a transaction per operation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from benchmarks.layers.base import Layer, StaleVersion, StatementCount
from benchmarks.layers.raw_sqlite import PRAGMAS
from benchmarks.workload import (
    DEPTH,
    LIST_STATUS,
    PAGE_SIZE,
    NewItem,
    Workload,
    bench_items,
)
from sqlalchemy import Select, event, insert, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped


def create_engine(url: str) -> AsyncEngine:
    """An async engine; on SQLite every new connection gets the harness's pragmas."""
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

    return engine


async def sqlite_settings(engine: AsyncEngine) -> dict[str, str]:
    """Journal mode and synchronous level as a pooled connection of ``engine`` sees them."""
    if engine.dialect.name != "sqlite":
        return {}
    async with engine.connect() as conn:
        journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        synchronous = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
    return {"journal_mode": str(journal), "synchronous": str(synchronous)}


@contextmanager
def engine_statements(engine: AsyncEngine) -> Iterator[StatementCount]:
    """Count the statements ``engine`` sends inside the block.

    ``before_cursor_execute`` events, plus COMMIT and ROLLBACK, plus BEGIN on
    PostgreSQL, where asyncpg sends it as a statement of its own (SQLite's
    driver begins implicitly with the first statement).
    """
    count = StatementCount()

    def _count(*_args: Any) -> None:
        count.value += 1

    names = ["before_cursor_execute", "commit", "rollback"]
    if engine.dialect.name == "postgresql":
        names.append("begin")
    for name in names:
        event.listen(engine.sync_engine, name, _count)
    try:
        yield count
    finally:
        for name in names:
            event.remove(engine.sync_engine, name, _count)


def row_dict(item: NewItem) -> dict[str, Any]:
    """The insert parameters of one row."""
    stamp = item.created_at
    return {
        "id": item.id,
        "created_at": stamp,
        "updated_at": stamp,
        "created_by_id": None,
        "updated_by_id": None,
        "version": 1,
        "deleted_at": None,
        "title": item.title,
        "status": item.status,
        "score": item.score,
    }


class SqlalchemyLayer(Layer):
    """Shared engine handling of the Core and ORM layers."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._engine: AsyncEngine | None = None
        self._anchor: tuple[datetime, UUID] | None = None

    async def open(self, workload: Workload) -> None:
        self._engine = create_engine(self.url)
        self._anchor = workload.keyset_anchor

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        assert self._engine is not None, "layer not open"
        return self._engine

    async def settings(self) -> dict[str, str]:
        return await sqlite_settings(self.engine)

    @contextmanager
    def count_statements(self) -> Iterator[StatementCount | None]:
        with engine_statements(self.engine) as count:
            yield count


t = bench_items.c
NEWEST_FIRST = (t.created_at.desc(), t.id.desc())


class CoreLayer(SqlalchemyLayer):
    """SQLAlchemy Core: ``engine.connect()`` for reads, ``engine.begin()`` for writes."""

    name = "SA Core"

    async def insert_one(self, item: NewItem) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(bench_items), row_dict(item))

    async def bulk_insert(self, items: list[NewItem]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(bench_items), [row_dict(item) for item in items])

    async def get(self, item_id: UUID) -> object:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(bench_items).where(t.id == item_id))).first()

    async def list_page(self) -> object:
        query = (
            select(bench_items)
            .where(t.status == LIST_STATUS)
            .order_by(*NEWEST_FIRST)
            .limit(PAGE_SIZE)
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).all()

    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        statement = (
            update(bench_items)
            .where(t.id == item_id, t.version == expected_version)
            .values(score=score, version=t.version + 1, updated_at=datetime.now(UTC))
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        if result.rowcount != 1:
            raise StaleVersion(f"{item_id} is not at version {expected_version}")
        return expected_version + 1

    async def _page(self, query: Select[Any]) -> object:
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).all()

    async def first_page(self) -> object:
        return await self._page(select(bench_items).order_by(*NEWEST_FIRST).limit(PAGE_SIZE))

    async def offset_page(self) -> object:
        query = select(bench_items).order_by(*NEWEST_FIRST).limit(PAGE_SIZE).offset(DEPTH)
        return await self._page(query)

    async def keyset_page(self) -> object:
        assert self._anchor is not None
        query = (
            select(bench_items)
            .where(tuple_(t.created_at, t.id) < tuple_(*self._anchor))
            .order_by(*NEWEST_FIRST)
            .limit(PAGE_SIZE)
        )
        return await self._page(query)


class OrmBase(DeclarativeBase):
    """A private declarative base, so the ORM model maps the harness's table only."""


class OrmItem(OrmBase):
    """The ORM model of ``bench_items`` (mapped onto the Core table)."""

    __table__ = bench_items

    id: Mapped[UUID]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]
    title: Mapped[str]
    status: Mapped[str]
    score: Mapped[int]


def orm_item(item: NewItem) -> OrmItem:
    """A new ORM object for ``item``."""
    stamp = item.created_at
    return OrmItem(
        id=item.id,
        created_at=stamp,
        updated_at=stamp,
        version=1,
        title=item.title,
        status=item.status,
        score=item.score,
    )


class OrmLayer(SqlalchemyLayer):
    """SQLAlchemy ORM: a new ``AsyncSession`` per operation, objects loaded as ``OrmItem``."""

    name = "SA ORM"
    notes = {
        "bulk_insert": "SA ORM bulk: session.execute(insert(OrmItem), rows); add_all is slower",
        "update": "SA ORM update: session.execute(update(OrmItem).where(id, version)) + commit",
    }

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._sessions: async_sessionmaker[Any] | None = None

    async def open(self, workload: Workload) -> None:
        await super().open(workload)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def sessions(self) -> async_sessionmaker[Any]:
        assert self._sessions is not None, "layer not open"
        return self._sessions

    async def insert_one(self, item: NewItem) -> None:
        async with self.sessions.begin() as session:
            session.add(orm_item(item))

    async def bulk_insert(self, items: list[NewItem]) -> None:
        async with self.sessions.begin() as session:
            await session.execute(insert(OrmItem), [row_dict(item) for item in items])

    async def get(self, item_id: UUID) -> object:
        async with self.sessions() as session:
            return await session.get(OrmItem, item_id)

    async def _objects(self, query: Select[Any]) -> object:
        async with self.sessions() as session:
            return (await session.scalars(query)).all()

    async def list_page(self) -> object:
        query = (
            select(OrmItem)
            .where(OrmItem.status == LIST_STATUS)
            .order_by(OrmItem.created_at.desc(), OrmItem.id.desc())
            .limit(PAGE_SIZE)
        )
        return await self._objects(query)

    async def update(self, item_id: UUID, score: int, expected_version: int) -> int:
        statement = (
            update(OrmItem)
            .where(OrmItem.id == item_id, OrmItem.version == expected_version)
            .values(score=score, version=OrmItem.version + 1, updated_at=datetime.now(UTC))
        )
        async with self.sessions.begin() as session:
            result = await session.execute(statement)
        if result.rowcount != 1:
            raise StaleVersion(f"{item_id} is not at version {expected_version}")
        return expected_version + 1

    def _newest_first(self) -> Select[Any]:
        return select(OrmItem).order_by(OrmItem.created_at.desc(), OrmItem.id.desc())

    async def first_page(self) -> object:
        return await self._objects(self._newest_first().limit(PAGE_SIZE))

    async def offset_page(self) -> object:
        return await self._objects(self._newest_first().limit(PAGE_SIZE).offset(DEPTH))

    async def keyset_page(self) -> object:
        assert self._anchor is not None
        query = (
            self._newest_first()
            .where(tuple_(OrmItem.created_at, OrmItem.id) < tuple_(*self._anchor))
            .limit(PAGE_SIZE)
        )
        return await self._objects(query)
