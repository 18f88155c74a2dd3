"""Values the driver cannot send are an InvalidInput, and leave nothing behind: a lone surrogate
in text (JSON can carry one) on both databases, and on PostgreSQL an argument asyncpg cannot
encode, after which the connection must not keep the table locked in the pool (a review
found a DROP waiting on it for good)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import DateTime, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.domain import Entity, InvalidInput, Timestamped
from lamina.persistence import Database, Repository, StandardColumns, new_metadata, where


class Base(DeclarativeBase):
    metadata = new_metadata()


class Note(Timestamped, Entity):
    text: str
    due: datetime | None = None


class NoteRow(StandardColumns, Base):
    __tablename__ = "t_unencodable_notes"
    text: Mapped[str] = mapped_column(String(50))
    due: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)  # naive


class Notes(Repository[Note, NoteRow]):
    filterable = ("text",)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.drop_all(Base.metadata)
    await database.create_all(Base.metadata)
    yield database
    await asyncio.wait_for(database.drop_all(Base.metadata), 10)  # nothing holds the table
    await database.close()


async def test_a_lone_surrogate_is_invalid_input_written_or_filtered(db: Database) -> None:
    with pytest.raises(InvalidInput, match="surrogates"):
        await Notes(db).add(Note(text="\ud800"))
    with pytest.raises(InvalidInput, match="surrogates"):
        async with db.unit_of_work() as uow:
            await Notes(uow).add(Note(text="a\udfff"))
    with pytest.raises(InvalidInput, match="surrogates") as refused:
        await Notes(db).list(where("text") == "\ud800")
    assert [e.field for e in refused.value.errors] == ["text"]
    assert await Notes(db).count() == 0


@pytest.mark.postgres_only
async def test_an_argument_the_driver_cannot_encode_leaves_no_lock_behind(db: Database) -> None:
    with pytest.raises(InvalidInput):  # an aware datetime for a timestamp column
        await Notes(db).add(Note(text="x", due=datetime(2026, 1, 1, tzinfo=UTC)))
    async with db.engine.connect() as conn:
        await conn.execute(text("SET lock_timeout = '2s'"))
        await conn.execute(text("ALTER TABLE t_unencodable_notes ADD COLUMN extra integer"))
        await conn.rollback()
    assert await Notes(db).count() == 0
