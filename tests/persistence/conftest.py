"""Fixtures of the persistence tests: an empty schema on each database for every test.

Creating the schema for every test would dominate the run time, so SQLite tests
start from a copy of a file made once per session, and PostgreSQL tests empty
the tables in one round trip (rebuilding the schema the first time, or when
another test has dropped or changed it).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlmodel
from persistence_models import JobRow, TestBase
from sqlalchemy import Table, create_engine

from lamina.persistence import Database, lamina_metadata

SECRET = "test-secret"
"""The key the test databases sign cursors with."""

SQLMODEL_TABLES: list[Table] = [JobRow.__table__]  # type: ignore[attr-defined]

_ready_urls: set[str] = set()


def _all_tables() -> list[Table]:
    return [*lamina_metadata.sorted_tables, *TestBase.metadata.sorted_tables, *SQLMODEL_TABLES]


def _create(conn: object) -> None:
    for md in (lamina_metadata, TestBase.metadata):
        md.create_all(conn)  # type: ignore[arg-type]
    sqlmodel.SQLModel.metadata.create_all(conn, tables=SQLMODEL_TABLES)  # type: ignore[arg-type]


def _drop(conn: object) -> None:
    sqlmodel.SQLModel.metadata.drop_all(conn, tables=SQLMODEL_TABLES)  # type: ignore[arg-type]
    for md in (TestBase.metadata, lamina_metadata):
        md.drop_all(conn)  # type: ignore[arg-type]


async def rebuild_schema(database: Database) -> None:
    """Drop and create lamina's tables and the tests' tables."""
    async with database.engine.begin() as conn:
        await conn.run_sync(_drop)
        await conn.run_sync(_create)


async def _empty_postgres(database: Database) -> None:
    # DELETE beats TRUNCATE by far on tables this small; one round trip for all of them.
    script = "; ".join(f'DELETE FROM "{t.name}"' for t in reversed(_all_tables()))
    async with database.connection() as conn:
        await conn.execute(script, [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file holding the empty schema, made once per session."""
    path = tmp_path_factory.mktemp("template") / "schema.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        _create(conn)
    engine.dispose()
    return path


@pytest.fixture
async def db(db_url: str, sqlite_template: Path) -> AsyncIterator[Database]:
    """A :class:`Database` on an empty schema (SQLite file or the test PostgreSQL database)."""
    database = Database(db_url, secret_key=SECRET)
    if database.dialect_name == "sqlite":
        shutil.copyfile(sqlite_template, str(database.url.database))
    elif db_url not in _ready_urls:
        await rebuild_schema(database)
        _ready_urls.add(db_url)
    else:
        try:
            await _empty_postgres(database)
        except Exception:
            await rebuild_schema(database)
    yield database
    await database.close()
