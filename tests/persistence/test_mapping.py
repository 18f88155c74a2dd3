"""Row ⇄ entity mapping: value objects in several columns, enums, JSON, constraints,
associations loaded in a constant number of queries, renames and SQLModel rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from persistence_models import (
    Categories,
    Category,
    Item,
    ItemRow,
    Items,
    Job,
    JobRow,
    Jobs,
    Kind,
    Price,
    Product,
    ProductDetail,
    ProductDetails,
    ProductRow,
    Products,
    Review,
    Reviews,
    Status,
    Tag,
    TagRow,
    Tags,
    new_product,
    product_tags,
)
from pydantic import ConfigDict, Field, field_validator
from sqlalchemy import insert, select

from lamina.domain import (
    ActorTracked,
    AlreadyExists,
    ConstraintViolated,
    Entity,
    FieldError,
    InvalidInput,
    SoftDeletable,
    Timestamped,
    VersionConflict,
    Versioned,
)
from lamina.persistence import Database, MappingError, Repository, count_queries, where

# --------------------------------------------------------------------------- columns


async def test_a_value_object_is_stored_in_one_column_per_part(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product(price=Price(amount=Decimal("19.90"), currency="CHF")))
    table = ProductRow.__table__
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(table.c.price_amount, table.c.price_currency).where(table.c.id == stored.id)
            )
        ).one()
    assert (row.price_amount, row.price_currency) == (Decimal("19.90"), "CHF")
    loaded = await products.get(stored.id)
    assert loaded.price == Price(amount=Decimal("19.90"), currency="CHF")
    updated = await products.update(
        stored.id, {"price": Price(amount=Decimal("5"), currency="USD")}
    )
    assert (await products.get(stored.id)).price == updated.price


async def test_a_value_object_keeps_its_own_rules(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    with pytest.raises(InvalidInput) as caught:
        await products.update(stored.id, {"price": {"amount": "1", "currency": "EURO"}})
    assert caught.value.errors[0].field == "price.currency"


async def test_enums_are_stored_as_a_native_enum_or_as_their_value(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product(status=Status.RETIRED, kind=Kind.DIGITAL))
    table = ProductRow.__table__
    async with db.engine.connect() as conn:
        raw_kind = await conn.scalar(select(table.c.kind).where(table.c.id == stored.id))
        status = await conn.scalar(select(table.c.status).where(table.c.id == stored.id))
    assert raw_kind == "digital"
    assert status is Status.RETIRED
    loaded = await products.get(stored.id)
    assert (loaded.status, loaded.kind) == (Status.RETIRED, Kind.DIGITAL)
    updated = await products.update(stored.id, {"status": "active", "kind": "physical"})
    assert (updated.status, updated.kind) == (Status.ACTIVE, Kind.PHYSICAL)
    assert await products.get(stored.id) == updated


async def test_json_columns_round_trip_nested_values(db: Database) -> None:
    products = Products(db)
    value = {"tags": ["a", "b"], "dims": {"w": 1.5, "h": 2}, "flag": True, "none": None}
    stored = await products.add(new_product(attributes=value))
    assert (await products.get(stored.id)).attributes == value
    await products.update(stored.id, {"attributes": {"emoji": "☕", "list": [1, [2, 3]]}})
    assert (await products.get(stored.id)).attributes == {"emoji": "☕", "list": [1, [2, 3]]}
    history = await products.history(stored.id)
    assert history[-1].changes["attributes"][1] == {"emoji": "☕", "list": [1, [2, 3]]}


# --------------------------------------------------------------------------- constraints


async def test_a_broken_check_names_the_constraint_and_the_field_it_covers(db: Database) -> None:
    products = Products(db)
    with pytest.raises(ConstraintViolated) as caught:
        await products.add(new_product(rating=7))
    assert caught.value.constraint == "ck_t_products_rating_range"
    assert caught.value.errors == (
        FieldError("rating", "breaks the rule ck_t_products_rating_range"),
    )
    assert caught.value.details()["constraint"] == "ck_t_products_rating_range"
    with pytest.raises(ConstraintViolated) as caught:
        await products.add(new_product(price=Price(amount=Decimal("-0.01"), currency="EUR")))
    assert caught.value.constraint == "ck_t_products_price_not_negative"
    assert [e.field for e in caught.value.errors] == ["price.amount"]
    stored = await products.add(new_product(rating=5))
    with pytest.raises(ConstraintViolated) as caught:
        await products.update(stored.id, {"rating": -1})
    assert [e.field for e in caught.value.errors] == ["rating"]
    with pytest.raises(ConstraintViolated):
        await products.add_many([new_product("OK"), new_product("BAD", rating=6)])
    assert await products.count() == 1
    assert (await products.get(stored.id)).rating == 5
    reviews = Reviews(db)
    with pytest.raises(ConstraintViolated) as caught:
        await reviews.add(Review(product_id=stored.id, author="ann", rating=6))
    assert caught.value.constraint == "ck_t_reviews_rating_range"
    await reviews.add(Review(product_id=stored.id, author="ann", rating=0))


async def test_a_composite_unique_constraint_names_all_its_fields(db: Database) -> None:
    products = Products(db)
    reviews = Reviews(db)
    first, second = await products.add_many([new_product("P1"), new_product("P2")])
    await reviews.add(Review(product_id=first.id, author="ann", rating=4))
    await reviews.add(Review(product_id=second.id, author="ann", rating=4))
    await reviews.add(Review(product_id=first.id, author="bob", rating=4))
    with pytest.raises(AlreadyExists) as caught:
        await reviews.add(Review(product_id=first.id, author="ann", rating=1))
    assert caught.value.fields == ("product_id", "author")
    assert caught.value.details() == {"entity": "Review", "fields": ["product_id", "author"]}
    assert await reviews.count() == 3


# --------------------------------------------------------------------------- associations


async def _catalog(db: Database, parents: int) -> list[Product]:
    """``parents`` products, each in a category, with a detail, three reviews and two tags."""
    categories = await Categories(db).add_many([Category(name=f"cat{i}") for i in range(3)])
    tags = await Tags(db).add_many([Tag(name=f"tag{i}") for i in range(4)])
    products = await Products(db).add_many(
        [new_product(f"P{i:03}", category_id=categories[i % 3].id) for i in range(parents)]
    )
    await ProductDetails(db).add_many(
        [ProductDetail(product_id=p.id, description=f"about {p.sku}") for p in products]
    )
    await Reviews(db).add_many(
        [
            Review(product_id=p.id, author=author, rating=n)
            for p in products
            for n, author in enumerate(("ann", "bob", "cy"))
        ]
    )
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(product_tags),
            [
                {"product_id": p.id, "tag_id": tags[(i + k) % 4].id}
                for i, p in enumerate(products)
                for k in range(2)
            ],
        )
    return products


ALL_RELATIONS = ["category", "detail", "reviews", "tags"]


async def test_associations_of_every_kind_are_loaded(db: Database) -> None:
    stored = await _catalog(db, 4)
    products = Products(db)
    loaded = await products.get(stored[1].id, load=ALL_RELATIONS)
    assert loaded.category is not None
    assert loaded.category.name == "cat1"  # many-to-one
    assert loaded.detail is not None
    assert loaded.detail.description == "about P001"  # one-to-one
    assert sorted(r.author for r in loaded.reviews) == ["ann", "bob", "cy"]  # one-to-many
    assert sorted(t.name for t in loaded.tags) == ["tag1", "tag2"]  # many-to-many
    bare = await products.get(stored[1].id)
    assert (bare.category, bare.detail, bare.reviews, bare.tags) == (None, None, [], [])
    category = await Categories(db).get(stored[0].category_id, load=["products"])  # type: ignore[arg-type]
    assert sorted(p.sku for p in category.products) == ["P000", "P003"]


async def test_an_entity_without_related_rows_gets_empty_relations(db: Database) -> None:
    products = Products(db)
    alone = await products.add(new_product("ALONE"))
    loaded = await products.get(alone.id, load=ALL_RELATIONS)
    assert (loaded.category, loaded.detail, loaded.reviews, loaded.tags) == (None, None, [], [])


async def test_a_shared_tag_is_loaded_for_every_product_that_has_it(db: Database) -> None:
    stored = await _catalog(db, 8)
    loaded = await Products(db).list(load=["tags"])
    by_tag: dict[str, int] = {}
    for product in loaded:
        assert len(product.tags) == 2
        for tag in product.tags:
            by_tag[tag.name] = by_tag.get(tag.name, 0) + 1
    assert by_tag == {"tag0": 4, "tag1": 4, "tag2": 4, "tag3": 4}
    assert len(loaded) == len(stored)


async def _queries_to_load(db: Database, parents: int) -> int:
    products = Products(db)
    with count_queries() as tally:
        loaded = await products.list(load=ALL_RELATIONS)
    assert len(loaded) == parents
    assert all(len(p.reviews) == 3 and len(p.tags) == 2 and p.detail for p in loaded)
    assert all(p.category is not None for p in loaded)
    return tally.queries


async def test_loading_parents_with_children_takes_a_constant_number_of_queries(
    db: Database,
) -> None:
    await _catalog(db, 10)
    with_ten = await _queries_to_load(db, 10)
    await _catalog_more(db, 90)
    with_hundred = await _queries_to_load(db, 100)
    assert with_ten == with_hundred == 1 + len(ALL_RELATIONS)


async def _catalog_more(db: Database, parents: int) -> None:
    categories = await Categories(db).list()
    tags = await Tags(db).list(order_by=["name"])
    products = await Products(db).add_many(
        [new_product(f"Q{i:03}", category_id=categories[i % 3].id) for i in range(parents)]
    )
    await ProductDetails(db).add_many(
        [ProductDetail(product_id=p.id, description="more") for p in products]
    )
    await Reviews(db).add_many(
        [Review(product_id=p.id, author=a, rating=1) for p in products for a in ("x", "y", "z")]
    )
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(product_tags),
            [{"product_id": p.id, "tag_id": tags[k].id} for p in products for k in range(2)],
        )


async def test_every_read_loads_relations_without_n_plus_one(db: Database) -> None:
    stored = await _catalog(db, 30)
    products = Products(db)
    expected = 1 + len(ALL_RELATIONS)
    with count_queries() as tally:
        many = await products.get_many([p.id for p in stored], load=ALL_RELATIONS)
    assert (len(many), tally.queries) == (30, expected)
    with count_queries() as tally:
        page = await products.page(limit=25, load=ALL_RELATIONS)
    assert (len(page), tally.queries) == (25, expected)
    with count_queries() as tally:
        keyset = await products.keyset_page(limit=25, load=ALL_RELATIONS)
    assert (len(keyset), tally.queries) == (25, expected)
    assert all(len(p.reviews) == 3 for p in [*many, *page, *keyset])


# --------------------------------------------------------------------------- SQLModel rows, renames


async def test_a_sqlmodel_table_works_as_the_row(db: Database) -> None:
    jobs = Jobs(db)
    stored = await jobs.add(Job(name="nightly", schedule="0 3 * * *", config={"retries": 3}))
    assert stored.created_at.tzinfo is not None
    loaded = await jobs.get(stored.id)
    assert loaded == stored
    assert loaded.config == {"retries": 3}
    table = JobRow.__table__  # type: ignore[attr-defined]
    async with db.engine.connect() as conn:
        cron = await conn.scalar(select(table.c.cron).where(table.c.id == stored.id))
    assert cron == "0 3 * * *"  # the renamed field lives in its column

    updated = await jobs.update(stored.id, {"schedule": "*/5 * * * *"}, expected_version=1)
    assert (updated.schedule, updated.version) == ("*/5 * * * *", 2)
    with pytest.raises(VersionConflict):
        await jobs.update(stored.id, {"enabled": False}, expected_version=1)
    await jobs.add(Job(name="hourly", schedule="0 * * * *", enabled=False))
    found = await jobs.list(where("schedule") == "*/5 * * * *")
    assert [j.name for j in found] == ["nightly"]
    assert [j.name for j in await jobs.list(order_by=["schedule"])] == ["nightly", "hourly"]
    assert [j.name for j in await jobs.list(where("enabled") == "false")] == ["hourly"]
    with pytest.raises(AlreadyExists) as caught:
        await jobs.add(Job(name="nightly", schedule="x"))
    assert caught.value.fields == ("name",)
    await jobs.delete(stored.id)  # no deleted_at column: removed for good
    assert await jobs.count() == 1


async def test_a_row_without_standard_columns_maps_too(db: Database) -> None:
    tags = Tags(db)
    tag = await tags.add(Tag(name="new"))
    renamed = await tags.update(tag.id, {"name": "fresh"})
    assert renamed == Tag(id=tag.id, name="fresh")
    assert await tags.get(tag.id) == renamed
    with pytest.raises(AlreadyExists):
        await tags.add(Tag(name="fresh"))
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(TagRow.name)) == "fresh"


class Gadget(Entity):
    name: str
    colour: str


class Gadgets(Repository[Gadget, TagRow]):
    pass


class MisdeclaredProducts(Repository[Product, ProductRow]):
    filterable = ("no_such_field",)
    relations = Products.relations


def test_an_entity_field_without_a_column_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="colour"):
        Gadgets.mapper()
    with pytest.raises(MappingError, match="no_such_field"):
        MisdeclaredProducts.mapper()


async def test_timestamps_of_a_sqlmodel_row_are_aware(db: Database) -> None:
    jobs = Jobs(db)
    stored = await jobs.add(Job(name="j", schedule="s"))
    loaded = await jobs.get(stored.id)
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == UTC.utcoffset(datetime.now(UTC))


class NamelessItem(Entity):
    """Leaves out ``name``, which the row requires."""

    rank: int


class NamelessItems(Repository[NamelessItem, ItemRow]):
    pass


async def test_a_missing_required_column_raises_invalid_input_naming_it(db: Database) -> None:
    with pytest.raises(InvalidInput) as caught:
        await NamelessItems(db).add(NamelessItem(rank=1))
    assert [e.field for e in caught.value.errors] == ["name"]
    assert await NamelessItems(db).count() == 0


# --------------------------------------------------------------------------- reads


class _ItemBase(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    rank: int
    due_at: datetime | None = None


class ConstrainedItem(_ItemBase):
    name: str = Field(max_length=50)


class ShoutingItem(_ItemBase):
    name: str

    @field_validator("name")
    @classmethod
    def _shout(cls, value: str) -> str:
        return value.upper()


class PostInitItem(_ItemBase):
    name: str

    def model_post_init(self, context: Any, /) -> None:
        assert self.rank >= 0


class EnumValuesItem(_ItemBase):
    model_config = ConfigDict(use_enum_values=True)
    name: str


class StrippedItem(_ItemBase):
    model_config = ConfigDict(str_strip_whitespace=True)
    name: str


class KindItem(_ItemBase):
    name: Kind


class DueItem(_ItemBase):
    name: str
    due_at: datetime = datetime(2024, 1, 1, tzinfo=UTC)  # type: ignore[assignment]


def _items_of(entity: type[Entity]) -> type[Repository[Any, ItemRow]]:
    class Of(Repository[entity, ItemRow]):  # type: ignore[valid-type]
        sortable = ("rank",)

    return Of


async def test_rows_of_plain_fields_become_the_entities_validation_would_make(
    db: Database,
) -> None:
    items = Items(db)
    assert not items.mapper().validates_reads
    due = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    added = await items.add_many([Item(name="a", rank=1, due_at=due), Item(name="b", rank=2)])
    for loaded in [
        await items.get(added[0].id),
        *(await items.list(order_by=["rank"])),
        *(await items.keyset_page(order_by=["rank"])).items,
    ]:
        validated = Item.model_validate(loaded.model_dump())
        assert loaded == validated
        assert loaded.model_fields_set == validated.model_fields_set
        for name in Item.model_fields:
            assert type(getattr(loaded, name)) is type(getattr(validated, name)), name
        assert hash(loaded) == hash(validated)
        assert loaded.evolve(rank=9).rank == 9
    first = await items.get(added[0].id)
    assert (first.due_at, first.created_at.tzinfo) == (due, UTC)


async def test_rows_are_validated_when_a_field_has_rules_or_another_type(db: Database) -> None:
    for entity in (
        ConstrainedItem,
        ShoutingItem,
        PostInitItem,
        EnumValuesItem,
        StrippedItem,
        KindItem,
        DueItem,
    ):
        assert _items_of(entity)(db).mapper().validates_reads, entity.__name__
    await Items(db).add(Item(name="physical", rank=1))
    shouting = _items_of(ShoutingItem)(db)
    (loaded,) = await shouting.list()
    assert loaded.name == "PHYSICAL"
    (kind,) = await _items_of(KindItem)(db).list()
    assert kind.name is Kind.PHYSICAL
    await Items(db).add(Item(name="  padded  ", rank=2))
    stripped = await _items_of(StrippedItem)(db).list(order_by=["rank"])
    assert [item.name for item in stripped] == ["physical", "padded"]
