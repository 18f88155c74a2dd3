"""Fixtures of the ETL registry tests: an empty database on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from etl_testkit import reset_database


@pytest.fixture
async def etl_url(db_url: str) -> str:
    """The URL of a database with empty ETL and lamina tables."""
    await reset_database(db_url)
    return db_url
