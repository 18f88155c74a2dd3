"""Fixtures of the e-learning service tests: an empty database on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from learning_testkit import reset_database


@pytest.fixture
async def learning_url(db_url: str) -> str:
    """The URL of a database with empty learning and lamina tables."""
    await reset_database(db_url)
    return db_url
