"""The service's own revision history creates exactly its models, and goes back down."""

from __future__ import annotations

from pathlib import Path

from examples.learning.base import LearningBase

from lamina.persistence.migrations import MigrationConfig, check, current, downgrade, upgrade

MIGRATIONS = Path(__file__).resolve().parents[3] / "examples" / "learning" / "migrations"


async def test_migrations_create_exactly_the_models(isolated_db_url: str) -> None:
    app = MigrationConfig(versions=MIGRATIONS, metadata=LearningBase.metadata)
    await upgrade(isolated_db_url, app=app)
    assert await check(isolated_db_url, app=app) == []
    await downgrade(isolated_db_url, "base", app=app)
    assert await current(isolated_db_url, app=app) == []
    await upgrade(isolated_db_url, app=app)
    assert await check(isolated_db_url, app=app) == []
