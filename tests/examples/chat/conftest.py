"""Fixtures of the chat service tests: an empty database on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from chat_testkit import reset_database


@pytest.fixture
async def chat_url(db_url: str) -> str:
    """The URL of a database with empty chat and lamina tables."""
    await reset_database(db_url)
    return db_url
