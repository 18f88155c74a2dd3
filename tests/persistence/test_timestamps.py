"""G13: timestamps are timezone-aware UTC when read back, on every database; UUIDs round-trip."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from persistence_models import ProductRow, Products, new_product
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lamina.domain import InvalidInput, use_context, uuid7
from lamina.persistence import Database, where

PARIS_SUMMER = timezone(timedelta(hours=2))


def _is_utc(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


async def test_g13_standard_timestamps_read_back_aware_in_utc(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    await products.update(stored.id, {"rating": 1})
    await products.delete(stored.id)
    loaded = await products.get(stored.id, include_deleted=True)
    for value in (loaded.created_at, loaded.updated_at, loaded.deleted_at):
        assert _is_utc(value)
    assert abs(loaded.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert loaded.created_at < loaded.updated_at
    assert loaded.created_at < loaded.deleted_at  # type: ignore[operator]
    for entry in await products.history(stored.id):
        assert _is_utc(entry.occurred_at)


async def test_g13_an_offset_datetime_is_stored_as_the_same_instant_in_utc(
    db: Database,
) -> None:
    products = Products(db)
    local = datetime(2024, 7, 1, 14, 30, 15, 123456, tzinfo=PARIS_SUMMER)
    stored = await products.add(new_product(released_at=local))
    loaded = await products.get(stored.id)
    assert loaded.released_at == local
    assert _is_utc(loaded.released_at)
    assert loaded.released_at == datetime(2024, 7, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert await products.count(where("released_at") == local) == 1
    assert await products.count(where("released_at") > "2024-07-01T12:30:15Z") == 1
    assert await products.count(where("released_at") > "2024-07-01T14:30:16+02:00") == 0


async def test_g13_rows_read_through_sqlalchemy_are_aware_too(db: Database) -> None:
    stored = await Products(db).add(
        new_product(released_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=PARIS_SUMMER))
    )
    async with AsyncSession(db.engine) as session:
        row = (await session.execute(select(ProductRow))).scalar_one()
    assert row.id == stored.id
    assert _is_utc(row.created_at)
    assert row.created_at == stored.created_at
    assert row.released_at == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert _is_utc(row.released_at)


async def test_g13_sqlite_stores_the_utc_wall_time(db: Database) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("inspects the SQLite file")
    stored = await Products(db).add(
        new_product(released_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=PARIS_SUMMER))
    )
    with sqlite3.connect(str(db.url.database)) as raw:
        (text,) = raw.execute(
            "SELECT released_at FROM t_products WHERE sku = ?", [stored.sku]
        ).fetchone()
    assert text.startswith("2024-01-02 01:04:05")


async def test_g13_sqlite_text_written_by_another_client_reads_back_aware(db: Database) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("writes the SQLite file directly")
    stored = await Products(db).add(new_product())
    written = {
        "2024-01-02 03:04:05": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "2024-01-02T03:04:05.5+02:00": datetime(2024, 1, 2, 1, 4, 5, 500000, tzinfo=UTC),
        "2024-01-02 03:04:05Z": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "2024-01-02": datetime(2024, 1, 2, tzinfo=UTC),
    }
    for text, instant in written.items():
        with sqlite3.connect(str(db.url.database)) as raw:
            raw.execute("UPDATE t_products SET released_at = ?", [text])
        loaded = await Products(db).get(stored.id)
        assert loaded.released_at == instant, text
        assert _is_utc(loaded.released_at), text


async def test_g13_naive_datetimes_are_refused(db: Database) -> None:
    products = Products(db)
    with pytest.raises(InvalidInput, match="naive"):
        await products.add(new_product(released_at=datetime(2024, 1, 1, 12)))
    stored = await products.add(new_product())
    with pytest.raises(InvalidInput, match="naive"):
        await products.update(stored.id, {"released_at": datetime(2024, 1, 1, 12)})
    assert (await products.get(stored.id)).released_at is None
    for naive in (datetime(2024, 1, 1, 12), "2024-01-01T12:00:00"):
        with pytest.raises(InvalidInput) as caught:
            await products.list(where("released_at") > naive)
        assert caught.value.errors[0].field == "released_at"
    assert (await products.get(stored.id)).released_at is None
    assert await products.count() == 1


async def test_uuids_round_trip(db: Database) -> None:
    products = Products(db)
    actor = uuid7()
    with use_context(actor_id=actor):
        stored = await products.add(new_product())
    loaded = await products.get(stored.id)
    assert isinstance(loaded.id, UUID)
    assert loaded.id == stored.id
    assert loaded.created_by_id == actor
    assert loaded.id.version == 7
    fixed = UUID("00000000-0000-4000-8000-0000000000ff")
    other = await products.add(new_product("FIXED", id=fixed))
    assert (await products.get(fixed)).id == other.id == fixed
    assert [p.id for p in await products.get_many([fixed, stored.id])] == [fixed, stored.id]
    (entry,) = await products.history(fixed)
    assert entry.entity_id == str(fixed)
    assert entry.actor_id is None
    async with AsyncSession(db.engine) as session:
        ids = set((await session.execute(select(ProductRow.id))).scalars())
    assert ids == {stored.id, fixed}


async def test_a_malformed_uuid_filter_value_raises_invalid_input(db: Database) -> None:
    with pytest.raises(InvalidInput):
        await Products(db).list(where("category_id") == "not-a-uuid")
    assert await Products(db).list(where("category_id") == str(uuid7())) == []
