"""One status per broken rule over HTTP, whichever layer checks it and whichever database runs.

A rule Pydantic checks and a CHECK constraint the database checks are both
422 ``invalid-input`` naming the field; a unique key is 409 naming its fields; a
reference to nothing is 422. The bodies are compared whole, so SQLite and
PostgreSQL must answer each input exactly alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import PROBLEM_MEDIA_TYPE, ApiSettings, install, provide_service, resource_router
from lamina.domain import Entity, Timestamped, Versioned, uuid7
from lamina.persistence import (
    Database,
    Repository,
    StandardColumns,
    UUIDPrimaryKey,
    new_metadata,
)
from lamina.service import Service


class Course(Timestamped, Versioned, Entity):
    title: Annotated[str, Field(min_length=1, max_length=100)]
    code: str
    price_cents: int = 0
    min_seats: int = 1
    max_seats: int = 10
    teacher_id: UUID | None = None


class Rows(DeclarativeBase):
    metadata = new_metadata()


class TeacherRow(UUIDPrimaryKey, Rows):
    __tablename__ = "br_teachers"


class CourseRow(StandardColumns, Rows):
    __tablename__ = "br_courses"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("max_seats >= min_seats", name="seats_in_order"),
    )
    title: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(20), unique=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    min_seats: Mapped[int] = mapped_column(Integer, CheckConstraint("min_seats > 0", name="seats"))
    max_seats: Mapped[int] = mapped_column(Integer)
    teacher_id: Mapped[UUID | None] = mapped_column(ForeignKey("br_teachers.id"))


class Courses(Repository[Course, CourseRow]):
    pass


class CourseService(Service[Course, None]):
    repository = Courses
    anonymous_writes = True


async def anyone() -> None:
    """No authentication: these tests are about errors, not access."""


def build_app(db: Database) -> FastAPI:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    provide = provide_service(CourseService, db, anyone)
    app.include_router(resource_router(CourseService, provide=provide, path="/courses"))
    return app


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    db = Database(db_url)
    await db.drop_all(Rows.metadata)
    await db.create_all(Rows.metadata)
    transport = httpx.ASGITransport(app=build_app(db))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await db.close()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    return body


def check_problem(constraint: str, fields: list[str]) -> dict[str, Any]:
    """The whole body of the problem a broken CHECK gives on ``POST /courses``."""
    broken = f"breaks the rule {constraint}"
    return {
        "type": "https://lamina.dev/problems/invalid-input",
        "title": "Invalid input",
        "status": 422,
        "detail": f"Course: the data {broken}",
        "instance": "/courses",
        "entity": "Course",
        "constraint": constraint,
        "errors": [{"field": field, "message": broken} for field in fields],
    }


async def test_a_broken_check_is_a_422_naming_the_constraint_and_its_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/courses", json={"title": "SQL", "code": "C1", "price_cents": -1})

    assert problem(response, 422) == check_problem(
        "ck_br_courses_price_not_negative", ["price_cents"]
    )
    listed = await client.get("/courses")
    assert listed.json()["items"] == []


async def test_a_broken_column_check_names_its_column_too(client: httpx.AsyncClient) -> None:
    response = await client.post("/courses", json={"title": "SQL", "code": "C1", "min_seats": 0})

    assert problem(response, 422) == check_problem("ck_br_courses_seats", ["min_seats"])


async def test_a_check_over_several_columns_names_the_constraint_and_no_single_field(
    client: httpx.AsyncClient,
) -> None:
    body = {"title": "SQL", "code": "C1", "min_seats": 5, "max_seats": 2}

    response = await client.post("/courses", json=body)

    assert problem(response, 422) == check_problem("ck_br_courses_seats_in_order", [])


async def test_a_broken_check_on_update_is_a_422_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/courses", json={"title": "SQL", "code": "C1"})
    assert created.status_code == 201, created.text
    url = f"/courses/{created.json()['id']}"

    response = await client.patch(url, json={"price_cents": -5}, headers={"If-Match": '"1"'})

    body = problem(response, 422)
    assert body["constraint"] == "ck_br_courses_price_not_negative"
    assert body["errors"] == [
        {"field": "price_cents", "message": "breaks the rule ck_br_courses_price_not_negative"}
    ]
    after = await client.get(url)
    assert after.json() == created.json()


async def test_a_rule_pydantic_checks_and_one_the_database_checks_answer_alike(
    client: httpx.AsyncClient,
) -> None:
    by_pydantic = await client.post("/courses", json={"title": "", "code": "C1"})
    broken = {"title": "T", "code": "C1", "price_cents": -1}
    by_database = await client.post("/courses", json=broken)

    first, second = problem(by_pydantic, 422), problem(by_database, 422)
    assert first["type"] == second["type"] == "https://lamina.dev/problems/invalid-input"
    assert [set(e) for e in first["errors"]] == [set(e) for e in second["errors"]]
    assert [e["field"] for e in first["errors"]] == ["body.title"]


async def test_a_taken_unique_key_is_a_409_naming_its_field(client: httpx.AsyncClient) -> None:
    first = await client.post("/courses", json={"title": "SQL", "code": "C1"})
    assert first.status_code == 201, first.text

    response = await client.post("/courses", json={"title": "Other", "code": "C1"})

    body = problem(response, 409)
    assert body["type"] == "https://lamina.dev/problems/already-exists"
    assert body["fields"] == ["code"]


async def test_a_reference_to_nothing_is_a_422_naming_its_field(
    client: httpx.AsyncClient,
) -> None:
    body = {"title": "SQL", "code": "C1", "teacher_id": str(uuid7())}

    response = await client.post("/courses", json=body)

    problem_body = problem(response, 422)
    assert problem_body["type"] == "https://lamina.dev/problems/reference-missing"
    assert problem_body["fields"] == ["teacher_id"]
