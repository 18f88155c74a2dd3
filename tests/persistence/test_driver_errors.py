"""Driver errors are read in persistence: the columns a CHECK covers, and SQLite without asyncpg."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import CheckConstraint, Column, Integer, MetaData, String, Table, column

from lamina.persistence.errors import check_columns


def courses_table() -> Table:
    return Table(
        "courses",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("price", Integer, CheckConstraint("price >= 0", name="price")),
        Column("status", String(20)),
        Column("open", Integer),
        Column("starts", Integer),
        Column("ends", Integer),
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
        CheckConstraint('"ends" >= starts', name="in_order"),
        CheckConstraint(column("price") < 100_000, name="price_cap"),
    )


def named(table: Table, name: str) -> CheckConstraint:
    checks = [*table.constraints, *(c for col in table.columns for c in col.constraints)]
    return next(c for c in checks if isinstance(c, CheckConstraint) and c.name == name)


def test_the_columns_of_a_check_are_found_in_its_sql_text_and_its_expression() -> None:
    table = courses_table()
    assert check_columns(named(table, "price"), table) == ["price"]
    assert check_columns(named(table, "price_cap"), table) == ["price"]
    assert check_columns(named(table, "in_order"), table) == ["starts", "ends"]


def test_a_quoted_value_in_a_check_is_not_taken_for_a_column() -> None:
    table = courses_table()
    assert check_columns(named(table, "status_known"), table) == ["status"]


SQLITE_APP_WITHOUT_ASYNCPG = """
import asyncio
import sys

sys.modules["asyncpg"] = None  # from here on, "import asyncpg" raises ImportError

import lamina.api, lamina.cli, lamina.domain, lamina.events
import lamina.persistence, lamina.security, lamina.service
from sqlalchemy import CheckConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped

from lamina.domain import ConstraintViolated, Entity
from lamina.persistence import Database, Repository, UUIDPrimaryKey, new_metadata


class Rows(DeclarativeBase):
    metadata = new_metadata()


class CounterRow(UUIDPrimaryKey, Rows):
    __tablename__ = "counters"
    __table_args__ = (CheckConstraint("value >= 0", name="not_negative"),)
    value: Mapped[int]


class Counter(Entity):
    value: int


class Counters(Repository[Counter, CounterRow]):
    pass


async def main(path: str) -> None:
    async with Database(f"sqlite:///{path}") as db:
        await db.create_all(Rows.metadata)
        async with db.unit_of_work() as uow:
            added = await Counters(uow).add(Counter(value=1))
        try:
            async with db.unit_of_work() as uow:
                await Counters(uow).add(Counter(value=-1))
        except ConstraintViolated as error:
            print("refused", error.constraint, [e.field for e in error.errors])
        print("stored", (await Counters(db).get(added.id)).value, await Counters(db).count())


asyncio.run(main(sys.argv[1]))
"""


def test_an_sqlite_application_runs_without_asyncpg(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SQLITE_APP_WITHOUT_ASYNCPG), str(tmp_path / "a.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "refused ck_counters_not_negative ['value']",
        "stored 1 1",
    ]
