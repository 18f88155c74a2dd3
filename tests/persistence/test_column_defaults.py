"""A row's columns no entity field maps, with a Python-side default (a value or a function), get
it on every insert path, as SQLAlchemy would give it: a standalone add, an add in a unit of
work, and add_many in one statement or through COPY, on SQLite and PostgreSQL (a review found
the add crashing with a ValueError on SQLite, an InvalidInput on PostgreSQL)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.domain import Entity, Timestamped
from lamina.persistence import Database, Repository, StandardColumns, new_metadata
from tables_kit import fresh_tables

_tickets = itertools.count(1)


class Base(DeclarativeBase):
    metadata = new_metadata()


class Thing(Timestamped, Entity):
    name: str


class ThingRow(StandardColumns, Base):
    __tablename__ = "t_defaults_things"
    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(20), default="plain")  # no field of Thing
    ticket: Mapped[int] = mapped_column(Integer, default=lambda: next(_tickets))


class Things(Repository[Thing, ThingRow]): ...


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    async for database in fresh_tables(db_url, Base.metadata):
        yield database


async def test_unmapped_columns_get_their_python_defaults_on_every_insert(db: Database) -> None:
    await Things(db).add(Thing(name="alone"))
    async with db.unit_of_work() as uow:
        await Things(uow).add(Thing(name="in a unit"))
    await Things(db).add_many([Thing(name=f"few {i}") for i in range(3)])
    await Things(db).add_many([Thing(name=f"many {i}") for i in range(100)])  # COPY

    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(ThingRow.kind, ThingRow.ticket))).all()
    assert len(rows) == 105
    assert {kind for kind, _ in rows} == {"plain"}
    assert len({ticket for _, ticket in rows}) == 105  # the function ran for every row
    assert len(await Things(db).list(limit=200)) == 105
