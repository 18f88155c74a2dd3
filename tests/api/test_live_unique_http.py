"""G18 over HTTP: a live-unique key taken is a 409 problem naming the fields; a deleted row frees
it; a restore onto a taken key is a 409 and the row stays deleted; concurrent creates of one key
leave exactly one 201."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import PROBLEM_MEDIA_TYPE, ApiSettings, install, provide_service, resource_router
from lamina.domain import Entity, SoftDeletable, Timestamped, Versioned, uuid7
from lamina.persistence import (
    Database,
    Repository,
    SoftDeleteColumn,
    StandardColumns,
    live_unique,
    new_metadata,
)
from lamina.service import Service


class Rows(DeclarativeBase):
    metadata = new_metadata()


class CourseRow(StandardColumns, SoftDeleteColumn, Rows):
    __tablename__ = "lu_courses"
    __table_args__ = (live_unique("uq_lu_courses_live_slug", "catalogue", "slug"),)

    catalogue: Mapped[str] = mapped_column(String(40))
    slug: Mapped[str] = mapped_column(String(80))


class Course(Timestamped, SoftDeletable, Versioned, Entity):
    catalogue: str
    slug: str


class Courses(Repository[Course, CourseRow]):
    filterable = ("catalogue", "slug")


class CourseService(Service[Course, UUID]):
    repository = Courses


USER = uuid7()


async def the_user() -> UUID:
    return USER


@pytest.fixture
async def client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    db = Database(db_url, secret_key="live-unique-tests")
    await db.drop_all(Rows.metadata)
    await db.create_all(Rows.metadata)
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    provide = provide_service(CourseService, db, the_user)
    app.include_router(resource_router(CourseService, provide=provide, path="/courses"))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await db.close()


def already_exists(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem: dict[str, Any] = response.json()
    assert problem["type"].endswith("/already-exists")
    assert problem["fields"] == ["catalogue", "slug"]
    return problem


async def test_g18_live_unique_over_http(client: httpx.AsyncClient) -> None:
    body = {"catalogue": "main", "slug": "ddd"}
    first = await client.post("/courses", json=body)
    assert first.status_code == 201, first.text
    already_exists(await client.post("/courses", json=body))

    url = f"/courses/{first.json()['id']}"
    deleted = await client.delete(url, headers={"If-Match": '"1"'})
    assert deleted.status_code == 204
    assert (await client.post("/courses", json=body)).status_code == 201

    already_exists(await client.post(f"{url}/restore", headers={"If-Match": '"2"'}))
    assert (await client.get(url)).status_code == 404  # still deleted
    live = await client.get("/courses", params={"slug": "ddd"})
    assert len(live.json()["items"]) == 1


async def test_g18_concurrent_creates_over_http_leave_exactly_one(
    client: httpx.AsyncClient,
) -> None:
    body = {"catalogue": "main", "slug": "hot"}
    responses = await asyncio.gather(*(client.post("/courses", json=body) for _ in range(10)))

    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    for refused in (r for r in responses if r.status_code == 409):
        already_exists(refused)
    listed = await client.get("/courses", params={"slug": "hot"})
    assert len(listed.json()["items"]) == 1
