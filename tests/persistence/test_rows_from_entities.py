"""A row from its entity alone: standard columns follow the entity's mixins (``tablename=``
names the table), and ``repository_for`` gives the repository nobody had to declare."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import pytest
from pydantic import StringConstraints
from sqlalchemy import CheckConstraint, UniqueConstraint, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase

from lamina.domain import (
    AlreadyExists,
    Entity,
    InvalidInput,
    ReferenceMissing,
    References,
    SoftDeletable,
    Timestamped,
    Unique,
    Versioned,
    uuid7,
)
from lamina.persistence import (
    Database,
    EntityColumns,
    MappingError,
    Op,
    Repository,
    UTCDateTime,
    new_metadata,
    repository_for,
    row_for,
    where,
)
from lamina.service import Service

Name = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class Shelf(Entity, Timestamped, Versioned, SoftDeletable):
    name: Name


class Book(Entity, Timestamped):
    shelf_id: Annotated[UUID, References(Shelf)]
    title: Name
    cover: Literal["hard", "paper"] = "paper"  # a String(5) with its CHECK


class Tag(Entity):  # no row declares it
    label: str


class RowsBase(EntityColumns, DeclarativeBase): ...  # its own metadata and column types


class OtherBase(EntityColumns, DeclarativeBase): ...


class ShelfRow(RowsBase, entity=Shelf, tablename="t_rows_shelves"): ...


class BookRow(RowsBase, entity=Book, tablename="t_rows_books"): ...


def test_standard_columns_follow_the_entity() -> None:
    shelves, books = ShelfRow.__table__, BookRow.__table__  # type: ignore[attr-defined]
    assert shelves.name == "t_rows_shelves"
    assert books.name == "t_rows_books"
    assert [c.name for c in shelves.primary_key] == ["id"]
    assert {"created_at", "updated_at", "version", "deleted_at"} <= set(shelves.c.keys())
    assert shelves.c.deleted_at.nullable
    assert not shelves.c.version.nullable
    assert "deleted_at" not in books.c
    assert "version" not in books.c
    assert [fk.column.table.name for fk in books.c.shelf_id.foreign_keys] == ["t_rows_shelves"]
    assert books.c.cover.type.length == 5
    checks = [str(c.sqltext) for c in books.constraints if isinstance(c, CheckConstraint)]
    assert checks == ["cover IN ('hard', 'paper')"]


def test_row_for_names_the_missing_row() -> None:
    assert row_for(Shelf) is ShelfRow
    with pytest.raises(MappingError, match=r"entity=Tag"):
        repository_for(Tag)


async def test_repository_for_filters_by_id_and_references_only(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.drop_all(RowsBase.metadata)
        await db.create_all(RowsBase.metadata)
        Shelves, Books = repository_for(Shelf), repository_for(Book)
        assert repository_for(Shelf) is Shelves
        assert issubclass(Shelves, Repository)
        shelf = await Shelves(db).add(Shelf(name="kitchen"))
        other = await Shelves(db).add(Shelf(name="hall"))
        for title in ("b", "a"):
            await Books(db).add(Book(shelf_id=shelf.id, title=title))
        await Books(db).add(Book(shelf_id=other.id, title="c"))
        mine = await Books(db).page(where("shelf_id") == shelf.id, order_by=["created_at"])
        assert [b.title for b in mine.items] == ["b", "a"]
        assert await Books(db).count(where("shelf_id").in_([shelf.id, other.id])) == 3
        with pytest.raises(InvalidInput):  # not declared filterable: refused, not ignored
            await Books(db).list(where("title") == "a")
        await Shelves(db).delete(other.id, expected_version=1)  # soft-deletable from the entity
        assert await Shelves(db).count() == 1
        assert (await Shelves(db).get(other.id, include_deleted=True)).deleted_at is not None
        with pytest.raises(IntegrityError):  # the database refuses what the Literal refuses
            async with db.engine.begin() as conn:
                await conn.execute(text("UPDATE t_rows_books SET cover = 'cloth'"))
        with pytest.raises(ReferenceMissing):
            await Books(db).add(Book(shelf_id=uuid7(), title="x"))
    finally:
        await db.drop_all(RowsBase.metadata)
        await db.close()


class BookService(Service[Book, None]):
    anonymous_writes = True


class Loose(Service[Any, None]):
    pass


async def test_a_service_without_a_repository_uses_the_entitys_default(db_url: str) -> None:
    db = Database(db_url)
    try:
        await db.drop_all(RowsBase.metadata)
        await db.create_all(RowsBase.metadata)
        assert BookService.repository is repository_for(Book)
        shelf = await repository_for(Shelf)(db).add(Shelf(name="attic"))
        book = await BookService(db, None).create({"shelf_id": shelf.id, "title": "Dune"})
        assert (await BookService(db, None).get(book.id)).title == "Dune"
        with pytest.raises(TypeError, match="Loose must declare a repository"):
            Loose(db, None)
    finally:
        await db.drop_all(RowsBase.metadata)
        await db.close()


class TitledBooks(Repository[Book, BookRow]):
    filterable = {"title": ["eq"], "shelf_id": ["is_null"]}


def test_every_repository_filters_by_id_and_references_and_what_it_declares() -> None:
    allowed = TitledBooks.allowed_filters()
    assert allowed["id"] == {Op.EQ, Op.IN}
    assert allowed["shelf_id"] == {Op.EQ, Op.IN, Op.IS_NULL}  # implied, and declared
    assert allowed["title"] == {Op.EQ}
    assert "cover" not in allowed
    assert set(repository_for(Book).allowed_filters()) == {"id", "shelf_id"}


def test_a_declarative_base_with_entity_columns_has_metadata_of_its_own() -> None:
    assert RowsBase.metadata is not OtherBase.metadata
    assert RowsBase.metadata.naming_convention == new_metadata().naming_convention
    assert {"t_rows_shelves", "t_rows_books"} <= set(RowsBase.metadata.tables)
    assert OtherBase.metadata.tables == {}
    assert isinstance(ShelfRow.__table__.c.created_at.type, UTCDateTime)


def test_text_operators_are_for_text_fields_only() -> None:
    class Anything(Repository[Book, BookRow]):
        filterable = ("title", "shelf_id", "created_at")

    allowed = Anything.allowed_filters()
    assert Op.ICONTAINS in allowed["title"]
    assert Op.ICONTAINS not in allowed["created_at"]
    assert Op.LT in allowed["created_at"]
    assert Op.STARTSWITH not in allowed["shelf_id"]

    class Wrong(Repository[Book, BookRow]):
        filterable = {"created_at": ["startswith"]}

    with pytest.raises(MappingError, match="not text"):
        Wrong.allowed_filters()


class Room(Entity, Timestamped, SoftDeletable):
    shelf_id: Annotated[UUID, References(Shelf)]
    code: Annotated[Name, Unique()]  # unique among live rooms
    seat: Annotated[int, Unique("shelf_id")]  # one per shelf, among live rooms


class Label(Entity):
    shelf_id: Annotated[UUID, References(Shelf), Unique()]  # one label per shelf
    text: Annotated[Name, Unique("shelf_id")]


class RoomRow(RowsBase, entity=Room, tablename="t_rows_rooms"): ...


class LabelRow(RowsBase, entity=Label, tablename="t_rows_labels"): ...


def test_unique_fields_become_unique_constraints_live_ones_when_soft_deletable() -> None:
    rooms = {i.name: i for i in RoomRow.__table__.indexes if i.unique}
    assert set(rooms) == {"uq_t_rows_rooms_live_code", "uq_t_rows_rooms_live_seat"}
    assert [c.name for c in rooms["uq_t_rows_rooms_live_seat"].columns] == ["shelf_id", "seat"]
    labels = {
        tuple(c.name for c in u.columns): u.name
        for u in LabelRow.__table__.constraints
        if isinstance(u, UniqueConstraint)
    }
    assert labels == {
        ("shelf_id",): "uq_t_rows_labels_shelf_id",
        ("shelf_id", "text"): "uq_t_rows_labels_shelf_id_text",
    }


async def test_g18_a_unique_field_refuses_a_second_live_value_naming_the_fields_and_filters(
    db_url: str,
) -> None:
    db = Database(db_url)
    try:
        await db.drop_all(RowsBase.metadata)
        await db.create_all(RowsBase.metadata)
        shelf = await repository_for(Shelf)(db).add(Shelf(name="s"))
        rooms = repository_for(Room)(db)
        first = await rooms.add(Room(shelf_id=shelf.id, code="A", seat=1))
        with pytest.raises(AlreadyExists) as taken:
            await rooms.add(Room(shelf_id=shelf.id, code="B", seat=1))
        assert sorted(taken.value.fields) == ["seat", "shelf_id"]
        with pytest.raises(AlreadyExists):
            await rooms.add(Room(shelf_id=shelf.id, code="A", seat=2))
        await rooms.delete(first.id)  # a deleted room frees its code and seat
        again = await rooms.add(Room(shelf_id=shelf.id, code="A", seat=1))
        assert [r.id for r in await rooms.list(where("code") == "A")] == [again.id]
        assert set(repository_for(Room).allowed_filters()) == {"id", "shelf_id", "code", "seat"}
        assert repository_for(Room).allowed_filters()["code"] == {Op.EQ, Op.IN}
    finally:
        await db.drop_all(RowsBase.metadata)
        await db.close()


def test_unique_within_an_unknown_field_is_a_mapping_error() -> None:
    class Odd(Entity):
        code: Annotated[Name, Unique("nope")]

    with pytest.raises(MappingError, match="no \\['nope'\\]"):

        class OddRow(OtherBase, entity=Odd, tablename="t_rows_odd"): ...
