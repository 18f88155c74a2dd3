"""Every repository operation, and the database errors each one turns into domain errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from persistence_models import (
    Categories,
    Category,
    Counter,
    Counters,
    Course,
    Courses,
    Kind,
    Price,
    Product,
    Products,
    Status,
    Tag,
    Tags,
    new_product,
)

from lamina.domain import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    ReferenceMissing,
    VersionConflict,
    use_context,
    uuid7,
)
from lamina.persistence import Database, PoolOptions, where
from lamina.persistence.inserts import AUDIT_SLICE


async def test_add_returns_the_stored_entity_and_get_reads_it_back(db: Database) -> None:
    products = Products(db)
    category = await Categories(db).add(Category(name="tools"))
    draft = new_product(
        "SKU-7",
        price=Price(amount=Decimal("12.50"), currency="USD"),
        status=Status.ACTIVE,
        kind=Kind.DIGITAL,
        rating=4,
        attributes={"colors": ["red", "blue"], "size": {"w": 3, "h": 4}},
        category_id=category.id,
    )
    stored = await products.add(draft)

    assert stored.id == draft.id
    assert stored.version == 1
    assert stored.created_at == stored.updated_at
    assert stored.deleted_at is None
    loaded = await products.get(draft.id)
    assert loaded == stored
    assert loaded.price == Price(amount=Decimal("12.50"), currency="USD")
    assert loaded.status is Status.ACTIVE
    assert loaded.kind is Kind.DIGITAL
    assert loaded.attributes == {"colors": ["red", "blue"], "size": {"w": 3, "h": 4}}
    assert loaded.category_id == category.id


async def test_get_of_an_unknown_id_raises_not_found_and_get_or_none_returns_none(
    db: Database,
) -> None:
    products = Products(db)
    missing = uuid7()
    with pytest.raises(NotFound) as caught:
        await products.get(missing)
    assert caught.value.details() == {"entity": "Product", "id": str(missing)}
    assert await products.get_or_none(missing) is None


async def test_get_many_returns_the_existing_entities_in_the_order_asked(db: Database) -> None:
    products = Products(db)
    stored = await products.add_many([new_product(f"S{i}") for i in range(5)])
    ids = [stored[3].id, uuid7(), stored[0].id, stored[3].id, stored[4].id]
    found = await products.get_many(ids)
    assert [p.id for p in found] == [stored[3].id, stored[0].id, stored[4].id]
    assert await products.get_many([]) == []


async def test_get_many_handles_more_ids_than_one_statement_takes(db: Database) -> None:
    products = Products(db)
    stored = await products.add_many([new_product(f"S{i}") for i in range(600)])
    found = await products.get_many([p.id for p in reversed(stored)])
    assert [p.id for p in found] == [p.id for p in reversed(stored)]


@pytest.mark.parametrize("count", [1, 3, 70, 250])
async def test_add_many_stores_every_entity(db: Database, count: int) -> None:
    # From 64 rows PostgreSQL takes the COPY path; SQLite sends full multi-row
    # statements, then the remainder row by row (250 rows: both).
    products = Products(db)
    drafts = [
        new_product(f"B{i:03}", rating=i % 6, attributes={"i": i}, kind=Kind.DIGITAL)
        for i in range(count)
    ]
    stored = await products.add_many(drafts)
    assert [p.id for p in stored] == [d.id for d in drafts]
    assert await products.count() == count
    loaded = {p.id: p for p in await products.list()}
    for entity in stored:
        assert loaded[entity.id] == entity
    assert await products.add_many([]) == []


async def test_update_changes_the_named_fields_and_moves_the_version_on(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product(rating=1))
    updated = await products.update(
        stored.id,
        {"name": "Renamed", "price": Price(amount=Decimal("3.00"), currency="EUR")},
        expected_version=1,
    )
    assert updated.name == "Renamed"
    assert updated.price.amount == Decimal("3.00")
    assert updated.rating == 1
    assert updated.version == 2
    assert updated.updated_at > stored.updated_at
    assert updated.created_at == stored.created_at
    assert await products.get(stored.id) == updated


async def test_update_without_an_expected_version_still_increments_it(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    first = await products.update(stored.id, {"rating": 2})
    second = await products.update(stored.id, {"rating": 3})
    assert (first.version, second.version) == (2, 3)


async def test_update_that_changes_nothing_writes_nothing(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product(rating=2))
    same = await products.update(stored.id, {"rating": 2}, expected_version=1)
    assert same == stored
    assert [e.action for e in await products.history(stored.id)] == ["create"]


async def test_update_validates_values_with_the_entity_rules(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    with pytest.raises(InvalidInput) as caught:
        await products.update(stored.id, {"name": ""})
    assert [e.field for e in caught.value.errors] == ["name"]
    with pytest.raises(InvalidInput):
        await products.update(stored.id, {"rating": "many"})
    assert (await products.get(stored.id)).version == 1


async def test_update_of_unknown_fields_or_relations_is_refused(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    with pytest.raises(InvalidInput) as caught:
        await products.update(stored.id, {"colour": "red"})
    assert caught.value.details() == {"errors": [{"field": "colour", "message": "unknown field"}]}
    with pytest.raises(InvalidInput):
        await products.update(stored.id, {"tags": []})


async def test_update_or_delete_of_an_unknown_id_raises_not_found(db: Database) -> None:
    products = Products(db)
    missing = uuid7()
    with pytest.raises(NotFound):
        await products.update(missing, {"name": "x"})
    with pytest.raises(NotFound):
        await products.delete(missing)
    with pytest.raises(NotFound):
        await products.hard_delete(missing)
    with pytest.raises(NotFound):
        await products.restore(missing)


async def test_save_stores_an_evolved_entity(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product(rating=1))
    saved = await products.save(stored.evolve(rating=5, name="Best"))
    assert (saved.rating, saved.name, saved.version) == (5, "Best", 2)
    assert await products.get(stored.id) == saved


async def test_save_of_a_stale_entity_raises_version_conflict(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product(rating=1))
    await products.save(stored.evolve(rating=2))
    with pytest.raises(VersionConflict) as caught:
        await products.save(stored.evolve(rating=3))
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert (await products.get(stored.id)).rating == 2


async def test_upsert_inserts_then_updates_the_row_with_the_same_key(db: Database) -> None:
    products = Products(db)
    first = await products.upsert(new_product("U-1", rating=1), on=["sku"])
    assert first.version == 1
    second = await products.upsert(new_product("U-1", rating=4, name="Again"), on=["sku"])
    assert second.id == first.id  # the existing row was updated, not replaced
    assert (second.rating, second.name, second.version) == (4, "Again", 2)
    assert await products.count() == 1
    actions = [e.action for e in await products.history(first.id)]
    assert actions == ["create", "update"]


async def test_upsert_on_a_soft_deleted_key_raises_already_exists(db: Database) -> None:
    products = Products(db)
    stored = await products.upsert(new_product("U-2"), on=["sku"])
    await products.delete(stored.id)
    with pytest.raises(AlreadyExists) as caught:
        await products.upsert(new_product("U-2"), on=["sku"])
    assert caught.value.fields == ("sku",)
    with pytest.raises(InvalidInput):
        await products.upsert(new_product("U-3"), on=["nope"])


async def test_upsert_on_a_live_unique_key_updates_the_live_row_only(db: Database) -> None:
    courses = Courses(db)
    first = await courses.upsert(
        Course(workspace="w", slug="s", level="beginner"), on=["workspace", "slug"]
    )
    await courses.delete(first.id)  # deleted: no longer holds the key
    second = await courses.upsert(
        Course(workspace="w", slug="s", level="beginner"), on=["workspace", "slug"]
    )
    again = await courses.upsert(
        Course(workspace="w", slug="s", level="expert"), on=["workspace", "slug"]
    )
    assert second.id != first.id
    assert (again.id, again.level, again.version) == (second.id, "expert", 2)
    with pytest.raises(InvalidInput, match="no unique constraint"):  # a 422, not a 500
        await Products(db).upsert(new_product("U-4"), on=["name"])


async def test_a_duplicate_unique_value_raises_already_exists_naming_the_field(
    db: Database,
) -> None:
    products = Products(db)
    await products.add(new_product("DUP"))
    with pytest.raises(AlreadyExists) as caught:
        await products.add(new_product("DUP"))
    assert caught.value.fields == ("sku",)
    assert caught.value.details() == {"entity": "Product", "fields": ["sku"]}
    with pytest.raises(AlreadyExists) as in_bulk:
        await products.add_many([new_product("N1"), new_product("DUP")])
    assert in_bulk.value.fields == ("sku",)
    other = await products.add(new_product("OTHER"))
    with pytest.raises(AlreadyExists):
        await products.add(other.evolve(sku="FRESH"))  # same primary key
    assert await products.count() == 2
    await Categories(db).add(Category(name="a"))
    b = await Categories(db).add(Category(name="b"))
    with pytest.raises(AlreadyExists) as on_update:
        await Categories(db).update(b.id, {"name": "a"})
    assert on_update.value.fields == ("name",)


@pytest.mark.parametrize("count", [100, AUDIT_SLICE + 100])
async def test_a_duplicate_in_a_large_bulk_insert_raises_already_exists(
    db: Database, count: int
) -> None:
    products = Products(db)
    await products.add(new_product("B-00050"))
    with pytest.raises(AlreadyExists) as caught:
        await products.add_many([new_product(f"B-{i:05}") for i in range(count)])
    assert caught.value.fields == ("sku",)
    assert await products.count() == 1  # nothing of the failed batch was written
    assert db.stats.audit_entries == 1


async def test_a_cancelled_bulk_insert_leaves_nothing_and_its_connection_usable(
    db_url: str, db: Database
) -> None:
    single = Database(db_url, pool=PoolOptions(size=1, acquire_timeout=5))
    batch = AUDIT_SLICE * 3
    try:
        products = Products(single)
        stored = 0
        # Cancelled at different points on the way: after some turns of the loop (rows
        # still on their way), or some milliseconds in (in the database's thread or
        # server, or, on a slow machine, committing). Every batch is all or nothing.
        for turns, delay in ((1, 0), (3, 0), (6, 0), (0, 0.002), (0, 0.006), (0, 0.015)):
            task = asyncio.create_task(
                products.add_many([new_product(f"C{turns}{delay}-{i:05}") for i in range(batch)])
            )
            for _ in range(turns):
                await asyncio.sleep(0)
            await asyncio.sleep(delay)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            rows = await products.count()
            if turns:
                assert rows == 0  # cancelled long before its commit
            # Only a cancellation that arrives while COMMIT itself runs finds it done.
            assert rows in (stored, stored + batch)
            stored = rows
            async with single.connection() as conn:
                audited = await conn.fetch("SELECT count(*) FROM lamina_audit_log", [])
            assert audited[0][0] == rows
        await products.add(new_product("AFTER"))
        assert await products.count() == stored + 1
    finally:
        await single.close()


async def test_a_missing_reference_raises_reference_missing(db: Database) -> None:
    products = Products(db)
    with pytest.raises(ReferenceMissing) as caught:
        await products.add(new_product(category_id=uuid7()))
    assert caught.value.fields == ("category_id",)
    stored = await products.add(new_product())
    with pytest.raises(ReferenceMissing):
        await products.update(stored.id, {"category_id": uuid7()})
    assert (await products.get(stored.id)).category_id is None


async def test_delete_of_a_row_without_deleted_at_removes_it(db: Database) -> None:
    tags = Tags(db)
    tag = await tags.add(Tag(name="sale"))
    await tags.delete(tag.id)
    assert await tags.get_or_none(tag.id) is None
    assert await tags.count() == 0
    with pytest.raises(TypeError):
        await tags.restore(tag.id)


async def test_count_and_exists_follow_the_filters(db: Database) -> None:
    products = Products(db)
    await products.add_many([new_product(f"C{i}", rating=i % 3) for i in range(9)])
    assert await products.count() == 9
    assert await products.count(where("rating") == 1) == 3
    assert await products.exists(where("rating") == 2)
    assert not await products.exists(where("rating") == 5)


async def test_list_limit_and_offset(db: Database) -> None:
    products = Products(db)
    await products.add_many([new_product(f"L{i}", name=f"n{i}") for i in range(6)])
    names = [p.name for p in await products.list(order_by=["name"], limit=2, offset=3)]
    assert names == ["n3", "n4"]


async def test_scope_applies_to_every_read_and_write(db: Database) -> None:
    all_products = Products(db)
    digital = await all_products.add(new_product("D", kind=Kind.DIGITAL))
    physical = await all_products.add(new_product("P", kind=Kind.PHYSICAL))
    scoped = Products(db, scope=[where("kind") == Kind.DIGITAL])
    assert [p.id for p in await scoped.list()] == [digital.id]
    assert await scoped.count() == 1
    assert await scoped.get_or_none(physical.id) is None
    assert await scoped.get_many([physical.id, digital.id]) == [digital]
    assert not await scoped.exists(where("sku") == "P")
    with pytest.raises(NotFound):
        await scoped.update(physical.id, {"name": "stolen"})
    with pytest.raises(NotFound):
        await scoped.delete(physical.id)
    with pytest.raises(NotFound):
        await scoped.hard_delete(physical.id)
    assert (await all_products.get(physical.id)).name == physical.name
    await scoped.update(digital.id, {"name": "mine"})
    assert (await all_products.get(digital.id)).name == "mine"


async def test_g12_server_owned_fields_are_set_by_the_repository(db: Database) -> None:
    products = Products(db)
    actor = uuid7()
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    forged = new_product(
        version=41,
        created_at=long_ago,
        updated_at=long_ago,
        created_by_id=uuid7(),
        updated_by_id=uuid7(),
        deleted_at=long_ago,
    )
    with use_context(actor_id=actor):
        stored = await products.add(forged)
    loaded = await products.get(stored.id)
    assert loaded.version == 1
    assert loaded.created_at > datetime.now(UTC) - timedelta(minutes=1)
    assert loaded.updated_at == loaded.created_at
    assert loaded.created_by_id == actor
    assert loaded.updated_by_id == actor
    assert loaded.deleted_at is None


@pytest.mark.parametrize(
    "field", ["id", "version", "created_at", "updated_at", "deleted_at", "created_by_id"]
)
async def test_g12_server_owned_fields_cannot_be_updated(db: Database, field: str) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    value: object = 7 if field == "version" else datetime(2001, 1, 1, tzinfo=UTC)
    if field.endswith("id"):
        value = uuid7()
    with pytest.raises(InvalidInput) as caught:
        await products.update(stored.id, {field: value})
    assert [e.field for e in caught.value.errors] == [field]
    assert await products.get(stored.id) == stored


async def test_g12_save_ignores_server_owned_fields_of_the_entity(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    tampered = stored.model_copy(
        update={"created_by_id": uuid7(), "created_at": datetime(2001, 1, 1, tzinfo=UTC)}
    )
    saved = await products.save(tampered.evolve(rating=3))
    assert saved.created_by_id is None
    assert saved.created_at == stored.created_at
    assert (await products.get(stored.id)).created_at == stored.created_at


async def test_repositories_report_their_entity(db: Database) -> None:
    assert Products.entity_name() == "Product"
    assert Products.entity is Product
    assert isinstance((await Products(db).add(new_product())).id, UUID)


async def test_integers_beyond_their_column_are_refused_alike_on_every_database(
    db: Database,
) -> None:
    counters = Counters(db)
    largest = 2**31 - 1  # an Integer column holds 32 bits on PostgreSQL
    stored = await counters.add(Counter(name="c", value=largest))
    with pytest.raises(InvalidInput) as caught:
        await counters.add(Counter(name="d", value=largest + 1))
    assert caught.value.errors[0].field == "value"
    with pytest.raises(InvalidInput):
        await counters.update(stored.id, {"value": -(2**31) - 1})
    with pytest.raises(InvalidInput):
        await counters.add_many([Counter(name="e"), Counter(name="f", value=2**40)])
    assert [c.value for c in await counters.list()] == [largest]


async def test_text_longer_than_its_column_is_refused_alike_on_both_databases(
    db: Database,
) -> None:
    """SQLite would store it and PostgreSQL refuse it: both answer InvalidInput naming it."""
    categories = Categories(db)
    with pytest.raises(InvalidInput, match="name: at most 100 characters") as refused:
        await categories.add(Category(name="x" * 101))
    assert [e.field for e in refused.value.errors] == ["name"]
    stored = await categories.add(Category(name="x" * 100))
    with pytest.raises(InvalidInput, match="name: at most 100"):
        await categories.update(stored.id, {"name": "y" * 101})
    assert (await categories.get(stored.id)).name == "x" * 100
