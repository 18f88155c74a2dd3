"""Shared fixtures: every database test runs on SQLite and, when configured, PostgreSQL.

PostgreSQL tests read ``LAMINA_TEST_POSTGRES_URL`` (for example
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) and are skipped, with that
reason, when it is unset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL_VAR = "LAMINA_TEST_POSTGRES_URL"
SKIP_REASON = f"PostgreSQL tests need {POSTGRES_URL_VAR} (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)"


def postgres_url() -> str | None:
    """The PostgreSQL URL under test, or None when PostgreSQL tests are skipped."""
    return os.environ.get(POSTGRES_URL_VAR) or None


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
