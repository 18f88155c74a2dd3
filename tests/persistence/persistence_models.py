"""Rows, entities and repositories the persistence tests run against.

A small shop: categories, products (a ``Price`` value object in two columns,
enums, a CHECK, a JSON column, a sensitive field, soft delete), product
details (one-to-one), reviews (one-to-many, composite unique, CHECK on the
rating), tags (many-to-many), counters (concurrency), items (keyset pages),
topics with posts (a hot parent under concurrent child inserts), courses
(unique among live rows, an enum CHECK, a descending index) and a job
registry whose row is a SQLModel table. Everything lives in a private
``MetaData`` so no other test's tables are touched.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import sqlmodel
from pydantic import Field
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    column,
    desc,
    func,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lamina.domain import (
    SENSITIVE,
    ActorTracked,
    DomainEvent,
    Entity,
    SoftDeletable,
    Timestamped,
    ValueObject,
    Versioned,
    uuid7,
)
from lamina.persistence import (
    Base,
    Repository,
    SoftDeleteColumn,
    StandardColumns,
    UTCDateTime,
    live_index,
    live_unique,
    new_metadata,
    one_of,
)


class TestBase(DeclarativeBase):
    """The tests' own declarative base (not lamina's shared ``Base``)."""

    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


# --------------------------------------------------------------------------- rows


class Status(enum.Enum):
    """Stored by a native enum type (an SQLAlchemy ``Enum`` column)."""

    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class Kind(enum.StrEnum):
    """Stored as its value in a plain string column."""

    PHYSICAL = "physical"
    DIGITAL = "digital"


product_tags = Table(
    "t_product_tags",
    TestBase.metadata,
    Column("product_id", ForeignKey("t_products.id"), primary_key=True),
    Column("tag_id", ForeignKey("t_tags.id"), primary_key=True),
)


class CategoryRow(StandardColumns, TestBase):
    __tablename__ = "t_categories"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    products: Mapped[list[ProductRow]] = relationship(back_populates="category")


class ProductRow(StandardColumns, SoftDeleteColumn, TestBase):
    __tablename__ = "t_products"
    __table_args__ = (
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint("rating >= 0 AND rating <= 5", name="rating_range"),
    )

    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    price_currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[Status] = mapped_column(SAEnum(Status, name="t_product_status"))
    kind: Mapped[str] = mapped_column(String(20))
    rating: Mapped[int | None] = mapped_column(default=None)
    secret: Mapped[str | None] = mapped_column(String(100), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    category_id: Mapped[UUID | None] = mapped_column(ForeignKey("t_categories.id"))
    released_at: Mapped[datetime | None] = mapped_column(default=None)

    category: Mapped[CategoryRow | None] = relationship(back_populates="products")
    detail: Mapped[ProductDetailRow | None] = relationship(back_populates="product")
    reviews: Mapped[list[ReviewRow]] = relationship(back_populates="product")
    tags: Mapped[list[TagRow]] = relationship(secondary=product_tags)


class ProductDetailRow(StandardColumns, TestBase):
    __tablename__ = "t_product_details"

    product_id: Mapped[UUID] = mapped_column(ForeignKey("t_products.id"), unique=True)
    description: Mapped[str] = mapped_column(String(1000))
    product: Mapped[ProductRow] = relationship(back_populates="detail")


class ReviewRow(StandardColumns, SoftDeleteColumn, TestBase):
    __tablename__ = "t_reviews"
    __table_args__ = (
        UniqueConstraint("product_id", "author"),
        CheckConstraint("rating >= 0 AND rating <= 5", name="rating_range"),
    )

    product_id: Mapped[UUID] = mapped_column(ForeignKey("t_products.id"))
    author: Mapped[str] = mapped_column(String(100))
    rating: Mapped[int]
    product: Mapped[ProductRow] = relationship(back_populates="reviews")


class TagRow(TestBase):
    """No standard columns but the key: deletes are hard, nothing is versioned."""

    __tablename__ = "t_tags"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class CounterRow(StandardColumns, TestBase):
    __tablename__ = "t_counters"

    name: Mapped[str] = mapped_column(String(50))
    value: Mapped[int] = mapped_column(default=0)


class ItemRow(StandardColumns, SoftDeleteColumn, TestBase):
    __tablename__ = "t_items"
    __table_args__ = (live_index("ix_t_items_rank_id", "rank", "id"),)

    name: Mapped[str] = mapped_column(String(50))
    rank: Mapped[int]
    due_at: Mapped[datetime | None] = mapped_column(default=None)


class TopicRow(StandardColumns, SoftDeleteColumn, TestBase):
    """A hot parent: every post inserts a child row and marks the topic."""

    __tablename__ = "t_topics"

    title: Mapped[str] = mapped_column(String(100), unique=True)
    posts: Mapped[int] = mapped_column(default=0)
    last_post_at: Mapped[datetime | None] = mapped_column(default=None)


class PostRow(StandardColumns, TestBase):
    __tablename__ = "t_posts"

    topic_id: Mapped[UUID] = mapped_column(ForeignKey("t_topics.id"))
    body: Mapped[str] = mapped_column(String(200))


class Level(enum.StrEnum):
    BEGINNER = "beginner"
    EXPERT = "expert"


class CourseRow(StandardColumns, SoftDeleteColumn, TestBase):
    """A slug unique per workspace among live courses; a deleted course frees its slug."""

    __tablename__ = "t_courses"
    __table_args__ = (
        live_unique("uq_t_courses_live_slug", "workspace", "slug"),
        live_unique("uq_t_courses_live_title", "workspace", func.lower(column("title"))),
        one_of("level", Level),
        live_index("ix_t_courses_rating", desc("rating"), desc("created_at")),
    )

    workspace: Mapped[str] = mapped_column(String(50))
    slug: Mapped[str] = mapped_column(String(80))
    title: Mapped[str | None] = mapped_column(String(200), default=None)
    level: Mapped[str] = mapped_column(String(10))
    rating: Mapped[int] = mapped_column(default=0)


class GadgetRow(StandardColumns, SoftDeleteColumn, TestBase):
    """One column of each kind whose audit JSON the database writes itself."""

    __tablename__ = "t_gadgets"

    label: Mapped[str] = mapped_column(String(50))
    count: Mapped[int]
    active: Mapped[bool]
    owner_id: Mapped[UUID | None] = mapped_column(default=None)
    made_on: Mapped[date | None] = mapped_column(default=None)
    seen_at: Mapped[datetime | None] = mapped_column(default=None)
    code: Mapped[str | None] = mapped_column(String(20), default=None)


class JobRow(sqlmodel.SQLModel, table=True):
    """An ETL job registry row declared as a SQLModel table."""

    __tablename__ = "t_jobs"

    id: UUID = sqlmodel.Field(default_factory=uuid7, primary_key=True)
    name: str = sqlmodel.Field(max_length=100, unique=True)
    cron: str = sqlmodel.Field(max_length=50)
    enabled: bool = True
    config: dict[str, Any] = sqlmodel.Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = sqlmodel.Field(sa_type=UTCDateTime)
    updated_at: datetime = sqlmodel.Field(sa_type=UTCDateTime)
    version: int = 1


# --------------------------------------------------------------------------- entities


class Price(ValueObject):
    amount: Decimal
    currency: str = Field(min_length=3, max_length=3)


class Category(Entity, Timestamped, Versioned, ActorTracked):
    name: str
    products: list[Product] = []


class ProductDetail(Entity, Timestamped, Versioned, ActorTracked):
    product_id: UUID
    description: str


class Review(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    product_id: UUID
    author: str
    rating: int


class Tag(Entity):
    name: str


class Product(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    sku: str
    name: str = Field(min_length=1)
    price: Price
    status: Status = Status.DRAFT
    kind: Kind = Kind.PHYSICAL
    rating: int | None = None
    secret: Annotated[str | None, SENSITIVE] = None
    attributes: dict[str, Any] = {}
    category_id: UUID | None = None
    released_at: datetime | None = None

    category: Category | None = None
    detail: ProductDetail | None = None
    reviews: list[Review] = []
    tags: list[Tag] = []


Category.model_rebuild()


class Counter(Entity, Timestamped, Versioned, ActorTracked):
    name: str
    value: int = 0


class Item(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    name: str
    rank: int
    due_at: datetime | None = None


class Topic(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    title: str
    posts: int = 0
    last_post_at: datetime | None = None


class Post(Entity, Timestamped, Versioned, ActorTracked):
    topic_id: UUID
    body: str


class Posted(DomainEvent, type="test.posted", stream="topic_id"):
    topic_id: UUID
    post_id: UUID


class Course(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    workspace: str
    slug: str
    title: str | None = None
    level: Level = Level.BEGINNER
    rating: int = 0


class Gadget(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    name: str
    count: int
    active: bool
    owner_id: UUID | None = None
    made_on: date | None = None
    seen_at: datetime | None = None
    code: Annotated[str | None, SENSITIVE] = None


class Job(Entity, Timestamped, Versioned):
    name: str
    schedule: str
    enabled: bool = True
    config: dict[str, Any] = {}


class ProductPriced(DomainEvent, type="test.product_priced", stream="product_id"):
    product_id: UUID
    amount: Decimal


# --------------------------------------------------------------------------- repositories


class Tags(Repository[Tag, TagRow]):
    filterable = ("name",)
    sortable = ("name",)


class Reviews(Repository[Review, ReviewRow]):
    filterable = ("product_id", "author", "rating")
    sortable = ("created_at", "rating")


class ProductDetails(Repository[ProductDetail, ProductDetailRow]):
    filterable = ("product_id",)


class Categories(Repository[Category, CategoryRow]):
    filterable = ("name",)
    sortable = ("name",)
    default_order = ("name",)


class Products(Repository[Product, ProductRow]):
    filterable = {
        "sku": ["eq", "in", "not_in", "startswith"],
        "name": ["eq", "ne", "contains", "icontains", "startswith", "in"],
        "status": ["eq", "ne", "in", "not_in"],
        "kind": ["eq", "in"],
        "rating": ["eq", "ne", "lt", "le", "gt", "ge", "is_null"],
        "price.amount": ["lt", "le", "gt", "ge", "eq"],
        "price.currency": ["eq"],
        "category_id": ["eq", "is_null"],
        "released_at": ["eq", "lt", "gt", "is_null"],
    }
    sortable = ("created_at", "name", "rating", "price.amount", "released_at")
    default_order = ("-created_at",)
    relations = {
        "category": Categories,
        "detail": ProductDetails,
        "reviews": Reviews,
        "tags": Tags,
    }


Categories.relations = {"products": Products}


class Counters(Repository[Counter, CounterRow]):
    filterable = ("name",)


class Items(Repository[Item, ItemRow]):
    filterable = ("name", "rank", "due_at")
    sortable = ("created_at", "name", "rank", "due_at")
    default_order = ("-created_at",)


class Topics(Repository[Topic, TopicRow]):
    filterable = ("title",)
    touchable = ("last_post_at",)
    derived = ("posts",)


class Posts(Repository[Post, PostRow]):
    filterable = ("topic_id",)


class Courses(Repository[Course, CourseRow]):
    filterable = ("workspace", "slug", "level")
    sortable = ("rating", "created_at")


class Gadgets(Repository[Gadget, GadgetRow]):
    renames = {"name": "label"}


class Jobs(Repository[Job, JobRow]):
    filterable = ("name", "enabled", "schedule")
    sortable = ("name", "schedule")
    renames = {"schedule": "cron"}


def new_product(sku: str = "SKU-1", **fields: Any) -> Product:
    """A valid product with sensible defaults."""
    values: dict[str, Any] = {
        "sku": sku,
        "name": f"Product {sku}",
        "price": Price(amount=Decimal("9.99"), currency="EUR"),
    }
    values.update(fields)
    return Product(**values)
