"""Fixtures of the chat service tests: an empty database on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from browser_kit import launched_browser
from chat_testkit import reset_database
from playwright.async_api import Browser


@pytest.fixture
async def chat_url(db_url: str) -> str:
    """The URL of a database with empty chat and lamina tables."""
    await reset_database(db_url)
    return db_url


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium (the browser tests skip themselves when it is not installed)."""
    async with launched_browser() as launched:
        yield launched
