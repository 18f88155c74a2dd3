"""``Within``: a child is seen (and changed) through its parent's service, G10; ``may_write``;
``Resources.router(parent=ParentService)`` nests a collection under a visible parent, and
reads the parent from a ``Within`` scope when it is left out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from tests.service.projects_app import (
    Membership,
    MembershipRow,
    Memberships,
    Project,
    Projects,
    ProjectService,
    Task,
    Tasks,
    User,
    fresh_database,
    new_user,
    user_from_header,
)

from lamina.api import ApiSettings, Resources, Route, install
from lamina.domain import Entity, NotFound, PermissionDenied, References, Timestamped
from lamina.persistence import Database, Repository, where
from lamina.service import Filtered, OwnedBy, Service, Within


class UnfrozenProjects(ProjectService):
    """Members see a project; a project named "frozen" is read-only."""

    write_scope = Filtered(lambda user: [where("name") != "frozen"])


class TaskService(Service[Task, User]):
    repository = Tasks
    scope = Within("project_id", UnfrozenProjects)
    write_scope = Within("project_id", UnfrozenProjects, write=True)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await fresh_database(db_url)
    yield database
    await database.close()


async def new_project(db: Database, owner: User, name: str) -> Project:
    project = await UnfrozenProjects(db, owner).create({"name": "project"})
    return await Projects(db).update(project.id, {"name": name}, expected_version=1)


async def test_g10_children_are_seen_through_the_parents_scope(db: Database) -> None:
    ann, bob = User(new_user()), User(new_user())
    mine = await new_project(db, ann, "mine")
    task = await TaskService(db, ann).create({"project_id": mine.id, "title": "t"})

    assert (await TaskService(db, ann).get(task.id)).title == "t"
    with pytest.raises(NotFound):  # bob is no member of the project: the task does not exist
        await TaskService(db, bob).get(task.id)
    with pytest.raises(NotFound):  # nor can bob add one to it
        await TaskService(db, bob).create({"project_id": mine.id, "title": "x"})

    await Projects(db).delete(mine.id)  # a deleted parent hides its children
    with pytest.raises(NotFound):
        await TaskService(db, ann).get(task.id)


async def test_g10_writes_need_the_parents_write_scope(db: Database) -> None:
    ann = User(new_user())
    frozen = await new_project(db, ann, "frozen")
    open_ = await new_project(db, ann, "open")
    old = await Tasks(db).add(Task(project_id=frozen.id, title="old"))
    new = await TaskService(db, ann).create({"project_id": open_.id, "title": "new"})

    service = TaskService(db, ann)
    assert (await service.get(old.id)).title == "old"  # seen...
    with pytest.raises(PermissionDenied):  # ...but not changed
        await service.update(old.id, {"title": "changed"}, expected_version=1)
    assert not await service.may_write(await service.get(old.id))
    assert await service.may_write(new)
    assert not await TaskService(db, None).may_write(new)  # type: ignore[arg-type]


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    resources = Resources(db, user_from_header)
    app.include_router(
        resources.router(TaskService, path="/projects/{project_id}/tasks", parent=ProjectService)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_a_router_takes_the_parents_service(db: Database, client: httpx.AsyncClient) -> None:
    ann, bob = User(new_user()), User(new_user())
    project = await new_project(db, ann, "p")
    url = f"/projects/{project.id}/tasks"
    created = await client.post(url, json={"title": "t"}, headers={"X-Test-User": str(ann.id)})
    assert created.status_code == 201, created.text
    listed = await client.get(url, headers={"X-Test-User": str(ann.id)})
    assert [t["title"] for t in listed.json()["items"]] == ["t"]
    assert created.headers["location"].endswith(f"/tasks/{created.json()['id']}")
    hidden = await client.get(url, headers={"X-Test-User": str(bob.id)})
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"


async def test_a_router_reads_the_parent_from_a_within_scope(db: Database) -> None:
    ann, bob = User(new_user()), User(new_user())
    project = await new_project(db, ann, "frozen")  # seen by its member, not writable
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    app.include_router(
        Resources(db, user_from_header).router(TaskService, path="/projects/{project_id}/tasks")
    )
    url = f"/projects/{project.id}/tasks"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        refused = await http.post(url, json={"title": "t"}, headers={"X-Test-User": str(ann.id)})
        assert refused.status_code == 403  # the parent is UnfrozenProjects: seen, read-only
        hidden = await http.get(url, headers={"X-Test-User": str(bob.id)})
        assert hidden.status_code == 404, hidden.text
    without_within = Resources(db, user_from_header)
    with pytest.raises(ValueError, match="needs parent="):
        without_within.router(MyMemberships, path="/projects/{project_id}/memberships")


def test_a_parent_service_needs_one_path_parameter(db: Database) -> None:
    resources = Resources(db, user_from_header)
    with pytest.raises(TypeError, match="needs a path with one parameter"):
        resources.router(TaskService, path="/a/{x}/b/{y}/tasks", parent=ProjectService)


class MyMemberships(Service[Membership, User]):
    repository = Memberships
    scope = OwnedBy("user_id")


class TasksOfMyProjects(Service[Task, User]):
    repository = Tasks
    write_scope = Within("project_id", MyMemberships, key="project_id")  # where I am a member


async def test_g10_within_a_field_other_than_the_id_of_what_the_principal_sees(
    db: Database,
) -> None:
    ann, bob = User(new_user()), User(new_user())
    project = await new_project(db, ann, "p")  # ann is its member, bob is not
    mine = await TasksOfMyProjects(db, ann).create({"project_id": project.id, "title": "t"})
    assert mine.project_id == project.id
    with pytest.raises(PermissionDenied):
        await TasksOfMyProjects(db, bob).create({"project_id": project.id, "title": "x"})
    assert await Tasks(db).count() == 1


class ReferencedMembership(Timestamped, Entity):
    user_id: UUID
    project_id: Annotated[UUID, References(Project)]


class ReferencedMemberships(Repository[ReferencedMembership, MembershipRow]): ...


class MembershipsOfMine(Service[ReferencedMembership, User]):
    repository = ReferencedMemberships
    scope = OwnedBy("user_id")


async def test_a_router_takes_the_parent_from_the_service_routed_for_the_referenced_entity(
    db: Database,
) -> None:
    ann, bob = User(new_user()), User(new_user())
    project = await new_project(db, ann, "p")
    resources = Resources(db, user_from_header)
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    app.include_router(resources.router(ProjectService, path="/projects"))
    path = "/projects/{project_id}/memberships"
    app.include_router(resources.router(MembershipsOfMine, path=path, routes={Route.LIST}))
    url = f"/projects/{project.id}/memberships"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        listed = await http.get(url, headers={"X-Test-User": str(ann.id)})
        assert [m["user_id"] for m in listed.json()["items"]] == [str(ann.id)]
        hidden = await http.get(url, headers={"X-Test-User": str(bob.id)})
        assert hidden.status_code == 404, hidden.text  # ProjectService does not show it to bob
    resources.router(UnfrozenProjects, path="/unfrozen")  # a second service of Project...
    with pytest.raises(TypeError, match="give parent="):  # ...makes the parent ambiguous
        resources.router(MembershipsOfMine, path=path, routes={Route.LIST})
