"""Shared fixtures: every database test runs on SQLite and, when configured, PostgreSQL.

PostgreSQL tests read ``LAMINA_TEST_POSTGRES_URL`` (for example
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) and are skipped, with that
reason, when it is unset. Tests of the NATS relay likewise read ``LAMINA_TEST_NATS_URL``
(for example ``nats://127.0.0.1:4222``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

POSTGRES_URL_VAR = "LAMINA_TEST_POSTGRES_URL"
SKIP_REASON = f"PostgreSQL tests need {POSTGRES_URL_VAR} (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)"


NATS_URL_VAR = "LAMINA_TEST_NATS_URL"
NATS_SKIP_REASON = f"NATS tests need {NATS_URL_VAR} (e.g. nats://127.0.0.1:4222, JetStream enabled)"


def postgres_url() -> str | None:
    """The PostgreSQL URL under test, or None when PostgreSQL tests are skipped."""
    return os.environ.get(POSTGRES_URL_VAR) or None


@pytest.fixture
async def isolated_db_url(db_url: str) -> AsyncIterator[str]:
    """``db_url``, but on PostgreSQL a database of its own, dropped afterwards.

    For tests that look at the whole schema (migrations, drift checks), which
    other tests' tables in the shared database would disturb.
    """
    if not db_url.startswith("postgresql"):
        yield db_url
        return
    name = f"lamina_isolated_{uuid4().hex[:12]}"
    admin = create_async_engine(db_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    quoted = admin.dialect.identifier_preparer.quote(name)
    async with admin.connect() as connection:
        await connection.execute(text(f"CREATE DATABASE {quoted}"))
    try:
        yield make_url(db_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL: an empty SQLite file, or the test PostgreSQL database."""
    if request.param == "sqlite":
        if request.node.get_closest_marker("postgres_only"):
            pytest.skip("runs on PostgreSQL only")
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    else:
        url = postgres_url()
        if url is None:
            pytest.skip(SKIP_REASON)
        yield url


@pytest.fixture
def nats_url() -> str:
    """The NATS server (JetStream enabled) under test; the test is skipped when it is unset."""
    url = os.environ.get(NATS_URL_VAR)
    if not url:
        pytest.skip(NATS_SKIP_REASON)
    return url
