"""A short tour of lamina's persistence core, printing what it does.

Run it with ``python examples/quickstart.py`` (the README's first command does).
It uses ``$LAMINA_DATABASE_URL`` when set, else a fresh SQLite file in a
temporary folder, so nothing has to be installed.
"""

from __future__ import annotations

import asyncio
import enum
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Annotated
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lamina.domain import (
    SENSITIVE,
    ActorTracked,
    AlreadyExists,
    DomainEvent,
    Entity,
    SoftDeletable,
    Timestamped,
    ValueObject,
    VersionConflict,
    Versioned,
    use_context,
    uuid7,
)
from lamina.persistence import (
    Base,
    Database,
    Repository,
    SoftDeleteColumn,
    StandardColumns,
    count_queries,
    new_metadata,
    where,
)


# --- rows: the tables --------------------------------------------------------------------------
class TourBase(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class ProductRow(TourBase, StandardColumns, SoftDeleteColumn):
    __tablename__ = "tour_products"
    __table_args__ = (CheckConstraint("price_amount >= 0", name="price_not_negative"),)

    name: Mapped[str] = mapped_column(String(100), unique=True)
    category: Mapped[str] = mapped_column(String(20), index=True)
    price_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    price_currency: Mapped[str] = mapped_column(String(3))
    supplier_code: Mapped[str] = mapped_column(String(50))
    reviews: Mapped[list[ReviewRow]] = relationship()


class ReviewRow(TourBase, StandardColumns):
    __tablename__ = "tour_reviews"
    __table_args__ = (CheckConstraint("rating BETWEEN 0 AND 5", name="rating_range"),)

    product_id: Mapped[UUID] = mapped_column(ForeignKey("tour_products.id"), index=True)
    rating: Mapped[int]
    text: Mapped[str]


# --- entities: the business objects ------------------------------------------------------------
class Category(enum.StrEnum):
    BOOKS = "books"
    TOOLS = "tools"


class Price(ValueObject):
    amount: Decimal
    currency: str


class Review(Entity, Timestamped, Versioned, ActorTracked):
    product_id: UUID
    rating: int
    text: str


class Product(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    name: str
    category: Category
    price: Price  # stored in price_amount + price_currency
    supplier_code: Annotated[str, SENSITIVE]  # masked in the audit log
    reviews: list[Review] = []


class PriceChanged(DomainEvent, type="product.price_changed", stream="product_id"):
    product_id: UUID
    new_amount: Decimal


# --- repositories -----------------------------------------------------------------------------
class Reviews(Repository[Review, ReviewRow]):
    filterable = ("product_id", "rating")


class Products(Repository[Product, ProductRow]):
    filterable = ("name", "category")
    sortable = ("name", "created_at")
    default_order = ("name",)
    relations = {"reviews": Reviews}


def say(text: str) -> None:
    print(f"· {text}")


async def tour(db: Database) -> None:
    await db.create_all(TourBase.metadata)
    alice = uuid7()
    with use_context(actor_id=alice, correlation_id="quickstart-1"):
        products = Products(db)
        book = await products.add(
            Product(
                name="Domain-Driven Design",
                category=Category.BOOKS,
                price=Price(amount=Decimal("54.90"), currency="EUR"),
                supplier_code="SUP-42",
            )
        )
        say(f"added {book.name!r}: id {book.id} (UUID v7), version {book.version}")
        say(f"created_at {book.created_at.isoformat()} (aware UTC), by {book.created_by_id}")

        await products.add_many(
            [
                Product(
                    name=f"Hammer {n}",
                    category=Category.TOOLS,
                    price=Price(amount=Decimal(10 + n), currency="EUR"),
                    supplier_code=f"T{n}",
                )
                for n in range(1, 6)
            ]
        )
        say(f"bulk-added 5 tools in one round trip; {await products.count()} products in all")

        try:
            await products.add(book.evolve(id=uuid7()))
        except AlreadyExists as exc:
            say(f"a duplicate name is refused: AlreadyExists naming {list(exc.fields)}")

        async with db.unit_of_work() as uow:
            repo = Products(uow)
            cheaper = await repo.update(
                book.id,
                {"price": Price(amount=Decimal("49.90"), currency="EUR")},
                expected_version=book.version,
            )
            uow.publish(PriceChanged(product_id=book.id, new_amount=cheaper.price.amount))
        say(
            f"price changed to {cheaper.price.amount} (version {cheaper.version}); "
            "row, audit entry and event committed together"
        )

        try:
            await products.update(book.id, {"name": "DDD"}, expected_version=book.version)
        except VersionConflict as exc:
            say(f"a stale update is refused: expected v{exc.expected}, row is at v{exc.actual}")

        tools = await products.list(where("category") == "tools", where("name").icontains("ham"))
        say(f"filtered list: {[p.name for p in tools]}")
        first = await products.keyset_page(order_by=["name"], limit=2)
        second = await products.keyset_page(order_by=["name"], limit=2, cursor=first.next_cursor)
        say(f"keyset pages: {[p.name for p in first]} then {[p.name for p in second]}")

        await Reviews(db).add_many(
            [Review(product_id=p.id, rating=4, text="solid") for p in tools for _ in range(3)]
        )
        with count_queries() as tally:
            loaded = await products.list(load=["reviews"])
        say(
            f"loaded {len(loaded)} products with {sum(len(p.reviews) for p in loaded)} reviews "
            f"in {tally.queries} queries"
        )

        await products.delete(book.id)
        hidden = await products.get_or_none(book.id)
        counts = (await products.count(), await products.count(include_deleted=True))
        say(f"soft-deleted: get_or_none → {hidden}, count {counts[0]}, with deleted {counts[1]}")
        await products.restore(book.id)
        say("restored")

        for entry in await products.history(book.id):
            say(
                f"audit: {entry.action.value:<7} by {entry.actor_id} [{entry.correlation_id}] "
                f"{dict(entry.changes)}"
            )


async def main() -> None:
    url = os.environ.get("LAMINA_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(url or f"sqlite+aiosqlite:///{Path(tmp) / 'quickstart.db'}")
        say(f"database: {db.dialect_name}")
        try:
            await db.drop_all(TourBase.metadata)
            await tour(db)
        finally:
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
