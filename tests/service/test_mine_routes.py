"""The caller's own item of a collection, on SQLite and PostgreSQL (G10):
``Service.delete_mine`` and ``Route.DELETE_MINE`` delete it (leaving a project:
``DELETE /projects/{id}/memberships/me``), no If-Match, 404 when they have none or cannot see
the parent; ``Service.put_mine`` and ``Route.PUT_MINE`` create or replace it
(``PUT /projects/{id}/rating``), with its audit trail (G4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import DeclarativeBase
from tests.service.projects_app import (
    Membership,
    Memberships,
    ProjectService,
    User,
    fresh_database,
    new_user,
    user_from_header,
)

from lamina.api import ApiSettings, Resources, Route, install
from lamina.domain import READ_ONLY, Entity, NotFound, Timestamped, Versioned
from lamina.persistence import Database, EntityColumns, Repository, where
from lamina.service import OwnedBy, Service


class MyMemberships(Service[Membership, User]):
    repository = Memberships
    scope = OwnedBy("user_id")  # so owner_field is user_id


class AllMemberships(Service[Membership, User]):
    repository = Memberships


class Rating(Timestamped, Versioned, Entity):
    project_id: Annotated[UUID, READ_ONLY]
    user_id: Annotated[UUID, READ_ONLY]
    stars: Annotated[int, Field(ge=1, le=5)]


class RatingBase(EntityColumns, DeclarativeBase): ...


class RatingRow(RatingBase, entity=Rating, tablename="t_mine_ratings"):
    __table_args__ = (UniqueConstraint("user_id", "project_id"),)


class Ratings(Repository[Rating, RatingRow]):
    filterable = ("project_id",)


class MyRatings(Service[Rating, User]):
    repository = Ratings
    scope = OwnedBy("user_id")


class AnyRatings(Service[Rating, User]):
    repository = Ratings


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await fresh_database(db_url)
    await database.drop_all(RatingBase.metadata)
    await database.create_all(RatingBase.metadata)
    yield database
    await database.drop_all(RatingBase.metadata)
    await database.close()


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    resources = Resources(db, user_from_header)
    app.include_router(
        resources.router(
            MyMemberships,
            path="/projects/{project_id}/memberships",
            parent=ProjectService,
            routes={Route.DELETE_MINE},
        )
    )
    app.include_router(
        resources.router(
            MyRatings,
            path="/projects/{project_id}/rating",
            parent=ProjectService,
            routes={Route.PUT_MINE},
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def as_user(user: User) -> dict[str, str]:
    return {"X-Test-User": str(user.id)}


async def test_g10_the_caller_deletes_their_own_item_and_no_one_elses(db: Database) -> None:
    ann, bob = User(new_user()), User(new_user())
    project = await ProjectService(db, ann).create({"name": "p"})
    await Memberships(db).add(Membership(user_id=bob.id, project_id=project.id))
    in_project = where("project_id") == project.id

    await MyMemberships(db, bob).delete_mine(in_project)
    assert [m.user_id for m in await Memberships(db).list(in_project)] == [ann.id]
    with pytest.raises(NotFound):  # bob has none left there; ann's is not his to delete
        await MyMemberships(db, bob).delete_mine(in_project)
    with pytest.raises(TypeError, match="owner_field"):
        await AllMemberships(db, ann).delete_mine(in_project)


async def test_delete_mine_over_http(db: Database, client: httpx.AsyncClient) -> None:
    ann, bob = User(new_user()), User(new_user())
    project = await ProjectService(db, ann).create({"name": "p"})
    url = f"/projects/{project.id}/memberships/me"

    hidden = await client.delete(url, headers=as_user(bob))  # bob cannot see the project
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    assert (await client.delete(url, headers=as_user(ann))).status_code == 204  # no If-Match
    assert await Memberships(db).list(where("project_id") == project.id) == []
    gone = await client.delete(url, headers=as_user(ann))  # no member: the project is hidden
    assert gone.status_code == 404
    assert (await client.delete(url)).status_code == 401


def test_a_delete_mine_route_needs_an_owner_field(db: Database) -> None:
    resources = Resources(db, user_from_header)
    with pytest.raises(ValueError, match="owner_field"):
        resources.router(AllMemberships, path="/memberships", routes={Route.DELETE_MINE})


async def test_g4_put_mine_creates_then_replaces_the_callers_own_item(
    db: Database, client: httpx.AsyncClient
) -> None:
    ann, bob = User(new_user()), User(new_user())
    project = await ProjectService(db, ann).create({"name": "p"})
    url = f"/projects/{project.id}/rating"

    first = await client.put(url, json={"stars": 3}, headers=as_user(ann))
    assert first.status_code == 200, first.text
    assert (first.json()["stars"], first.json()["user_id"]) == (3, str(ann.id))
    again = await client.put(url, json={"stars": 5}, headers=as_user(ann))  # no If-Match
    assert (again.json()["id"], again.json()["stars"]) == (first.json()["id"], 5)
    assert again.headers["etag"] == '"2"'
    assert await Ratings(db).count() == 1
    history = await Ratings(db).history(UUID(first.json()["id"]))
    assert [e.action for e in history] == ["create", "update"]

    hidden = await client.put(url, json={"stars": 1}, headers=as_user(bob))
    assert hidden.status_code == 404  # bob cannot see the project
    for bad in ({"stars": 9}, {"stars": 2, "user_id": str(bob.id)}, {}):
        refused = await client.put(url, json=bad, headers=as_user(ann))
        assert refused.status_code == 422, (bad, refused.text)
    assert (await Ratings(db).get(UUID(first.json()["id"]))).stars == 5


async def test_put_mine_needs_an_owner_and_a_parent(db: Database) -> None:
    with pytest.raises(TypeError, match="owner_field"):
        await AnyRatings(db, User(new_user())).put_mine({"stars": 1}, key=("project_id",))
    resources = Resources(db, user_from_header)
    with pytest.raises(ValueError, match="PUT_MINE needs parent="):
        resources.router(MyRatings, path="/ratings", routes={Route.PUT_MINE})
