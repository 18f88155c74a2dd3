"""G1: a read never returns a soft-deleted row unless the caller asks for deleted rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from persistence_models import Item, ItemRow, Items, Product, Products, Review, Reviews, new_product
from sqlalchemy import func, select

from lamina.domain import Conflict, Entity, NotFound, ReferenceMissing, VersionConflict
from lamina.persistence import Database, Repository, where
from lamina.persistence.tables import audit_log


async def _live_and_deleted(db: Database) -> tuple[Products, Product, Product]:
    products = Products(db)
    live = await products.add(new_product("LIVE", rating=3))
    gone = await products.add(new_product("GONE", rating=3))
    await products.delete(gone.id)
    return products, live, gone


async def test_g1_a_soft_deleted_row_is_invisible_to_every_read(db: Database) -> None:
    products, live, gone = await _live_and_deleted(db)
    rated = where("rating") == 3

    with pytest.raises(NotFound):
        await products.get(gone.id)
    assert await products.get_or_none(gone.id) is None
    assert await products.get_many([gone.id, live.id]) == [live]
    assert [p.id for p in await products.list()] == [live.id]
    assert [p.id for p in await products.list(rated)] == [live.id]
    assert await products.count() == 1
    assert await products.count(rated) == 1
    assert await products.exists(where("sku") == "LIVE")
    assert not await products.exists(where("sku") == "GONE")
    page = await products.page(rated, with_total=True)
    assert ([p.id for p in page], page.total) == ([live.id], 1)
    keyset = await products.keyset_page(rated, limit=1)
    assert [p.id for p in keyset] == [live.id]
    assert keyset.next_cursor is None


async def test_g1_deleted_rows_are_returned_when_asked_for(db: Database) -> None:
    products, live, gone = await _live_and_deleted(db)

    deleted = await products.get(gone.id, include_deleted=True)
    assert deleted.deleted_at is not None
    assert await products.get_or_none(gone.id, include_deleted=True) == deleted
    assert len(await products.get_many([gone.id, live.id], include_deleted=True)) == 2
    assert {p.id for p in await products.list(include_deleted=True)} == {live.id, gone.id}
    assert [p.id for p in await products.list(only_deleted=True)] == [gone.id]
    assert await products.count(include_deleted=True) == 2
    assert await products.count(only_deleted=True) == 1
    assert await products.exists(where("sku") == "GONE", include_deleted=True)
    assert await products.exists(where("sku") == "GONE", only_deleted=True)
    assert not await products.exists(where("sku") == "LIVE", only_deleted=True)
    page = await products.page(only_deleted=True, with_total=True)
    assert ([p.id for p in page], page.total) == ([gone.id], 1)
    everything = await products.page(include_deleted=True, with_total=True)
    assert everything.total == 2
    keyset = await products.keyset_page(include_deleted=True, limit=1)
    rest = await products.keyset_page(include_deleted=True, limit=1, cursor=keyset.next_cursor)
    assert {keyset.items[0].id, rest.items[0].id} == {live.id, gone.id}
    only = await products.keyset_page(only_deleted=True)
    assert [p.id for p in only] == [gone.id]


async def test_g1_soft_delete_stamps_deleted_at_and_keeps_the_row(db: Database) -> None:
    products, _, gone = await _live_and_deleted(db)
    deleted = await products.get(gone.id, include_deleted=True)
    assert deleted.deleted_at is not None
    assert deleted.deleted_at.tzinfo is not None
    assert abs(deleted.deleted_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert deleted.version == 2
    assert db.stats.soft_deletes == 1


async def test_g1_soft_deleted_children_are_not_loaded_with_their_parent(db: Database) -> None:
    products = Products(db)
    reviews = Reviews(db)
    product = await products.add(new_product())
    kept = await reviews.add(Review(product_id=product.id, author="ann", rating=4))
    dropped = await reviews.add(Review(product_id=product.id, author="bob", rating=1))
    await reviews.delete(dropped.id)
    loaded = await products.get(product.id, load=["reviews"])
    assert [r.id for r in loaded.reviews] == [kept.id]


async def test_g1_deleting_twice_or_updating_a_deleted_row_raises_not_found(
    db: Database,
) -> None:
    products, _, gone = await _live_and_deleted(db)
    with pytest.raises(NotFound):
        await products.delete(gone.id)
    with pytest.raises(NotFound):
        await products.update(gone.id, {"name": "ghost"})
    with pytest.raises(NotFound):
        await products.save((await products.get(gone.id, include_deleted=True)).evolve(rating=1))


async def test_restore_brings_a_soft_deleted_row_back(db: Database) -> None:
    products, live, gone = await _live_and_deleted(db)
    restored = await products.restore(gone.id)
    assert restored.deleted_at is None
    assert restored.version == 3
    assert await products.get(gone.id) == restored
    assert await products.count() == 2
    assert await products.count(only_deleted=True) == 0
    with pytest.raises(NotFound):
        await products.restore(live.id)  # a live row is not restorable


async def test_restore_with_a_stale_version_raises_version_conflict(db: Database) -> None:
    products, _, gone = await _live_and_deleted(db)
    with pytest.raises(VersionConflict):
        await products.restore(gone.id, expected_version=1)
    assert await products.get_or_none(gone.id) is None
    assert (await products.restore(gone.id, expected_version=2)).version == 3


async def test_hard_delete_removes_the_row_for_good(db: Database) -> None:
    products, live, gone = await _live_and_deleted(db)
    await products.hard_delete(gone.id)  # a soft-deleted row can be removed
    await products.hard_delete(live.id, expected_version=1)
    assert await products.count(include_deleted=True) == 0
    assert await products.get_or_none(gone.id, include_deleted=True) is None
    with pytest.raises(NotFound):
        await products.hard_delete(live.id)
    with pytest.raises(NotFound):
        await products.restore(gone.id)
    assert db.stats.hard_deletes == 2
    history = await products.history(gone.id)
    assert [e.action for e in history] == ["create", "delete", "hard_delete"]
    assert history[-1].changes["sku"] == ("GONE", None)


async def test_hard_delete_with_a_stale_version_removes_nothing(db: Database) -> None:
    products, live, _ = await _live_and_deleted(db)
    await products.update(live.id, {"rating": 1})
    with pytest.raises(VersionConflict):
        await products.hard_delete(live.id, expected_version=1)
    assert await products.get(live.id)
    async with db.engine.connect() as conn:
        entries = await conn.scalar(
            select(func.count()).select_from(audit_log).where(audit_log.c.action == "hard_delete")
        )
    assert entries == 0


async def test_hard_delete_of_a_row_others_refer_to_raises_conflict(db: Database) -> None:
    products = Products(db)
    product = await products.add(new_product())
    await Reviews(db).add(Review(product_id=product.id, author="ann", rating=4))
    with pytest.raises(Conflict) as caught:
        await products.hard_delete(product.id)
    assert not isinstance(caught.value, ReferenceMissing)
    assert await products.get(product.id) == product
    assert [e.action for e in await products.history(product.id)] == ["create"]
    await products.delete(product.id)  # a soft delete leaves the references intact
    assert await products.get_or_none(product.id) is None


class PlainItem(Entity):
    """An entity that does not carry the standard fields its row has."""

    name: str
    rank: int


class PlainItems(Repository[PlainItem, ItemRow]):
    filterable = ("name",)


async def test_g1_soft_delete_works_when_the_entity_has_no_deleted_at_field(
    db: Database,
) -> None:
    plain = PlainItems(db)
    kept, gone = await plain.add_many(
        [PlainItem(name="kept", rank=1), PlainItem(name="gone", rank=2)]
    )
    await plain.delete(gone.id)
    assert [i.id for i in await plain.list()] == [kept.id]
    assert await plain.get_or_none(gone.id) is None
    assert await plain.count(only_deleted=True) == 1
    stored = await Items(db).get(gone.id, include_deleted=True)
    assert stored.deleted_at is not None
    assert stored.version == 2
    assert (await Items(db).get(kept.id)).created_at.tzinfo is not None
    await plain.restore(gone.id)
    assert {i.name for i in await plain.list()} == {"kept", "gone"}
    delete, restore = (await plain.history(gone.id))[1:]
    assert delete.changes["deleted_at"][1] is not None
    assert restore.changes["deleted_at"][1] is None


async def test_g1_an_offset_page_over_a_live_index_skips_deleted_rows(db: Database) -> None:
    """``live_index`` ends with ``deleted_at``: pages by its columns hide deleted rows as ever,
    and on SQLite the page is read through that index (the filter answered from it)."""
    items = Items(db)
    added = await items.add_many([Item(name=f"item {i}", rank=i) for i in range(30)])
    for gone in added[::3]:
        await items.delete(gone.id)
    live = [item.id for item in added if item not in added[::3]]

    sent: list[str] = []
    if db.dialect_name == "sqlite":
        async with db.connection() as conn:  # the pool hands the same connection back next
            conn.raw.set_trace_callback(sent.append)
    page = await items.page(order_by=["rank"], limit=5, offset=10)

    assert [item.id for item in page] == live[10:15]
    assert (await items.page(order_by=["rank"], limit=5, offset=10, include_deleted=True)).items
    if db.dialect_name == "sqlite":
        query = next(sql for sql in sent if sql.lstrip().upper().startswith("SELECT"))
        async with db.connection() as conn:
            conn.raw.set_trace_callback(None)
            plan = await conn.fetch(f"EXPLAIN QUERY PLAN {query}", [])
        assert any("USING INDEX ix_t_items_rank_id" in str(step[-1]) for step in plan), plan
