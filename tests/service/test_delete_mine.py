"""``Service.delete_mine`` and ``Route.DELETE_MINE``: the caller deletes their own item of a
collection (leaving a project: ``DELETE /projects/{id}/memberships/me``), no If-Match, 404
when they have none or cannot see the parent, on SQLite and PostgreSQL (G10)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
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
from lamina.domain import NotFound
from lamina.persistence import Database, where
from lamina.service import OwnedBy, Service


class MyMemberships(Service[Membership, User]):
    repository = Memberships
    scope = OwnedBy("user_id")  # so owner_field is user_id


class AllMemberships(Service[Membership, User]):
    repository = Memberships


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await fresh_database(db_url)
    yield database
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
