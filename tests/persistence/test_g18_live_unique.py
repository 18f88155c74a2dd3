"""G18: a soft-deleted row never blocks a new live one under a live-unique key, and a restore
never breaks one."""

from __future__ import annotations

import asyncio

import pytest
from persistence_models import Course, Courses
from sqlalchemy import select

from lamina.domain import AlreadyExists
from lamina.persistence import Database, where
from lamina.persistence.tables import audit_log


async def test_g18_two_live_rows_cannot_share_the_key(db: Database) -> None:
    courses = Courses(db)
    await courses.add(Course(workspace="w1", slug="ddd"))
    await courses.add(Course(workspace="w2", slug="ddd"))  # another workspace: another key

    with pytest.raises(AlreadyExists) as raised:
        await courses.add(Course(workspace="w1", slug="ddd"))
    assert raised.value.fields == ("workspace", "slug")
    assert raised.value.details() == {"entity": "Course", "fields": ["workspace", "slug"]}
    assert await courses.count(where("workspace") == "w1") == 1

    second = await courses.add(Course(workspace="w1", slug="tdd"))
    with pytest.raises(AlreadyExists) as raised:
        await courses.update(second.id, {"slug": "ddd"}, expected_version=second.version)
    assert raised.value.fields == ("workspace", "slug")
    assert (await courses.get(second.id)).slug == "tdd"


async def test_g18_a_key_may_be_an_expression(db: Database) -> None:
    courses = Courses(db)
    first = await courses.add(Course(workspace="w1", slug="a", title="Domain-Driven Design"))

    with pytest.raises(AlreadyExists) as raised:
        await courses.add(Course(workspace="w1", slug="b", title="domain-driven DESIGN"))
    assert raised.value.fields == ("workspace", "title")

    await courses.delete(first.id)
    await courses.add(Course(workspace="w1", slug="b", title="domain-driven DESIGN"))


async def test_g18_a_deleted_row_frees_its_key(db: Database) -> None:
    courses = Courses(db)
    first = await courses.add(Course(workspace="w1", slug="ddd"))
    await courses.delete(first.id)

    again = await courses.add(Course(workspace="w1", slug="ddd"))
    await courses.delete(again.id)
    third = await courses.add(Course(workspace="w1", slug="ddd"))  # two deleted rows share it

    assert [c.id for c in await courses.list(where("slug") == "ddd")] == [third.id]
    assert await courses.count(where("slug") == "ddd", only_deleted=True) == 2


async def test_g18_restoring_onto_a_taken_key_changes_nothing(db: Database) -> None:
    courses = Courses(db)
    old = await courses.add(Course(workspace="w1", slug="ddd"))
    await courses.delete(old.id)
    await courses.add(Course(workspace="w1", slug="ddd"))
    entries_before = await audit_entries(db)

    async def add_another_and_restore() -> None:
        async with db.unit_of_work() as uow:
            await Courses(uow).add(Course(workspace="w1", slug="other"))
            await Courses(uow).restore(old.id)

    with pytest.raises(AlreadyExists) as raised:
        await add_another_and_restore()
    assert raised.value.fields == ("workspace", "slug")

    assert (await courses.get(old.id, include_deleted=True)).deleted_at is not None
    assert not await courses.exists(where("slug") == "other")  # the whole unit rolled back
    assert await audit_entries(db) == entries_before

    with pytest.raises(AlreadyExists):
        await courses.restore(old.id)
    assert (await courses.get(old.id, include_deleted=True)).deleted_at is not None


async def test_g18_concurrent_creates_of_one_key_leave_exactly_one(db: Database) -> None:
    async def create(n: int) -> Course | AlreadyExists:
        try:
            return await Courses(db).add(Course(workspace="w1", slug="hot", rating=n))
        except AlreadyExists as error:
            return error

    results = await asyncio.gather(*(create(n) for n in range(10)))

    created = [result for result in results if isinstance(result, Course)]
    refused = [result for result in results if isinstance(result, AlreadyExists)]
    assert (len(created), len(refused)) == (1, 9), results
    assert {error.fields for error in refused} == {("workspace", "slug")}
    assert [c.id for c in await Courses(db).list(where("slug") == "hot")] == [created[0].id]


async def audit_entries(db: Database) -> int:
    async with db.engine.connect() as connection:
        return len((await connection.execute(select(audit_log.c.id))).all())
