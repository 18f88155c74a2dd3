"""Fixtures of the event tests: a fresh schema on each database for every test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from events_testkit import reset_schema

from lamina.persistence import Database


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` on an empty schema (SQLite file or the test PostgreSQL database)."""
    database = Database(db_url)
    await reset_schema(database)
    yield database
    await database.close()
