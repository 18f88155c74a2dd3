"""Sortable and expression indexes, live-unique indexes and enum CHECKs through migrations.

Autogenerate writes them, ``check`` finds no drift after an upgrade, a changed
direction or a dropped index is drift, and a downgrade puts back exactly what
was there, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    column,
    desc,
    func,
    insert,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from lamina.persistence import UTCDateTime, live_index, live_unique, new_metadata, one_of
from lamina.persistence.migrations import MigrationConfig, check, downgrade, revision, upgrade


class Level(StrEnum):
    BEGINNER = "beginner"
    EXPERT = "expert"


def course_metadata(*, rating: str = "desc", title_index: bool = True) -> MetaData:
    """A course catalogue table; ``rating`` says how its rating index sorts."""
    metadata = new_metadata()
    rating_key = desc("rating") if rating == "desc" else "rating"
    Table(
        "idx_courses",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("slug", String(80), nullable=False),
        Column("title", String(200), nullable=False),
        Column("rating", Integer(), nullable=False),
        Column("level", String(10), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("deleted_at", UTCDateTime(), nullable=True),
        live_index("ix_idx_courses_rating", rating_key, desc("created_at")),
        live_unique("uq_idx_courses_live_slug", "slug"),
        one_of("level", Level),
        *([Index("ix_idx_courses_title", func.lower(column("title")))] if title_index else []),
    )
    return metadata


async def stored_index(url: str, name: str) -> str:
    """The database's own statement for index ``name``."""
    engine = create_async_engine(url, poolclass=NullPool)
    query = (
        "SELECT sql FROM sqlite_master WHERE name = :name"
        if url.startswith("sqlite")
        else "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    )
    async with engine.connect() as connection:
        found = await connection.scalar(text(query), {"name": name})
    await engine.dispose()
    return str(found)


def course(slug: str, **values: Any) -> dict[str, Any]:
    row = {"id": uuid4(), "slug": slug, "title": "T", "rating": 3, "level": "beginner"}
    return {**row, "created_at": datetime.now(UTC), "deleted_at": None, **values}


async def assert_rules_hold(url: str, metadata: MetaData) -> None:
    """The migrated live-unique index and CHECK refuse what they must, and only that."""
    courses = metadata.tables["idx_courses"]
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        first = course("ddd")
        async with engine.begin() as connection:
            await connection.execute(insert(courses), first)
        for refused in (course("ddd"), course("tdd", level="wizard")):
            with pytest.raises(IntegrityError):
                async with engine.begin() as connection:
                    await connection.execute(insert(courses), refused)
        async with engine.begin() as connection:
            await connection.execute(
                update(courses).where(courses.c.id == first["id"]).values(deleted_at=func.now())
            )
            await connection.execute(insert(courses), course("ddd"))  # the old one is deleted
    finally:
        await engine.dispose()


async def test_autogenerate_writes_sorted_expression_and_live_unique_indexes_and_enum_checks(
    isolated_db_url: str, tmp_path: Path
) -> None:
    url = isolated_db_url
    app = MigrationConfig(versions=tmp_path / "versions", metadata=course_metadata())
    await upgrade(url)
    written = await revision("courses", app=app, url=url, autogenerate=True, rev_id="cat_0001")
    assert written is not None
    source = written.read_text()
    for expected in (
        "sa.literal_column('rating DESC'), sa.literal_column('created_at DESC'), 'deleted_at'",
        "ix_idx_courses_title', [sa.literal_column('lower(title)')]",
        "'uq_idx_courses_live_slug', ['slug'], unique=True, "
        "sqlite_where=sa.text('deleted_at IS NULL'), "
        "postgresql_where=sa.text('deleted_at IS NULL')",
        """sa.CheckConstraint("level IN ('beginner', 'expert')", """
        "name=op.f('ck_idx_courses_level_allowed'))",
    ):
        assert expected in source, source

    await upgrade(url, app=app)
    assert await check(url, app=app) == []
    assert "rating DESC, created_at DESC, deleted_at" in await stored_index(
        url, "ix_idx_courses_rating"
    )
    await assert_rules_hold(url, app.load_metadata() or MetaData())

    await downgrade(url, "base", app=app)
    await upgrade(url, app=app)
    assert await check(url, app=app) == []


async def test_changed_or_dropped_indexes_are_drift_and_downgrade_restores_them(
    isolated_db_url: str, tmp_path: Path
) -> None:
    url = isolated_db_url
    versions = tmp_path / "versions"
    first = MigrationConfig(versions=versions, metadata=course_metadata())
    await upgrade(url)
    await revision("courses", app=first, url=url, autogenerate=True, rev_id="cat_0001")
    await upgrade(url, app=first)

    second = MigrationConfig(
        versions=versions, metadata=course_metadata(rating="asc", title_index=False)
    )
    as_stored = "lower(title)" if url.startswith("sqlite") else "lower((title)::text)"
    assert await check(url, app=second) == [
        "remove index ix_idx_courses_rating on idx_courses "
        "(rating DESC, created_at DESC, deleted_at)",
        f"remove index ix_idx_courses_title on idx_courses ({as_stored})",
        "add index ix_idx_courses_rating on idx_courses (rating, created_at DESC, deleted_at)",
    ]
    changed = await revision("ascending", app=second, url=url, autogenerate=True, rev_id="cat_0002")
    assert changed is not None
    await upgrade(url, app=second)
    assert await check(url, app=second) == []
    assert await check(url, app=first) != []

    await downgrade(url, "app@-1", app=second)
    [only_difference] = await check(url, app=first)  # no index differs from cat_0001's models
    assert "not yet at cat_0002" in only_difference
    assert "rating DESC" in await stored_index(url, "ix_idx_courses_rating")
    assert "lower" in await stored_index(url, "ix_idx_courses_title")
