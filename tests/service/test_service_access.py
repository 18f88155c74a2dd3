"""Services: tenant scoping on every read and write, policies, hooks in the unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from tests.service.projects_app import (
    Membership,
    Memberships,
    Project,
    Projects,
    ProjectService,
    Task,
    Tasks,
    TaskService,
    User,
    fresh_database,
    new_user,
)

from lamina.domain import Conflict, InvalidInput, NotFound, PermissionDenied, use_context
from lamina.persistence import Database, UnitOfWork, where
from lamina.service import Service


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await fresh_database(db_url)
    yield database
    await database.close()


def services(db: Database, user: UUID) -> tuple[ProjectService, TaskService]:
    principal = User(user)
    return ProjectService(db, principal), TaskService(db, principal)


async def create_as(service: Service[Any, Any], values: dict[str, Any]) -> Any:
    with use_context(actor_id=service.principal.id):
        return await service.create(values)


async def test_g10_rows_of_another_tenant_are_invisible_to_every_read(db: Database) -> None:
    a, b = new_user(), new_user()
    a_projects, a_tasks = services(db, a)
    b_projects, b_tasks = services(db, b)
    mine = await create_as(a_projects, {"name": "mine"})
    theirs = await create_as(b_projects, {"name": "theirs"})
    their_task = await create_as(b_tasks, {"project_id": theirs.id, "title": "secret"})

    with pytest.raises(NotFound):
        await a_projects.get(theirs.id)
    with pytest.raises(NotFound):
        await a_tasks.get(their_task.id)
    with pytest.raises(NotFound):
        await a_tasks.history(their_task.id)
    assert [p.id for p in await a_projects.page()] == [mine.id]
    assert await a_projects.count() == 1
    assert list(await a_tasks.page()) == []
    assert await a_tasks.count() == 0
    assert await a_tasks.count(where("project_id") == theirs.id) == 0
    assert list(await a_tasks.page(where("title") == "secret")) == []
    assert (await b_tasks.get(their_task.id)).title == "secret"


async def test_g10_writes_to_rows_of_another_tenant_are_not_found_and_change_nothing(
    db: Database,
) -> None:
    a, b = new_user(), new_user()
    a_projects, a_tasks = services(db, a)
    b_projects, b_tasks = services(db, b)
    theirs = await create_as(b_projects, {"name": "theirs"})
    task = await create_as(b_tasks, {"project_id": theirs.id, "title": "secret"})

    with pytest.raises(NotFound):
        await a_tasks.update(task.id, {"title": "mine now"}, expected_version=1)
    with pytest.raises(NotFound):
        await a_tasks.delete(task.id, expected_version=1)
    with pytest.raises(NotFound):
        await a_projects.delete(theirs.id, expected_version=1)
    await b_tasks.delete(task.id, expected_version=1)
    with pytest.raises(NotFound):
        await a_tasks.restore(task.id)

    stored = await Tasks(db).get(task.id, include_deleted=True)
    assert (stored.title, stored.version) == ("secret", 2)
    assert stored.deleted_at is not None
    assert (await Projects(db).get(theirs.id)).version == 1
    assert [e.action for e in await Tasks(db).history(task.id)] == ["create", "delete"]


async def test_g10_creating_into_a_foreign_tenant_is_refused(db: Database) -> None:
    a, b = new_user(), new_user()
    _, a_tasks = services(db, a)
    b_projects, _ = services(db, b)
    theirs = await create_as(b_projects, {"name": "theirs"})

    with pytest.raises(NotFound) as caught:
        await create_as(a_tasks, {"project_id": theirs.id, "title": "intruder"})

    assert caught.value.entity == "Project"
    assert await Tasks(db).count() == 0


async def test_g10_an_update_cannot_move_a_row_into_a_foreign_tenant(db: Database) -> None:
    a, b = new_user(), new_user()
    a_projects, a_tasks = services(db, a)
    b_projects, _ = services(db, b)
    first = await create_as(a_projects, {"name": "first"})
    second = await create_as(a_projects, {"name": "second"})
    theirs = await create_as(b_projects, {"name": "theirs"})
    task = await create_as(a_tasks, {"project_id": first.id, "title": "t"})

    with pytest.raises(NotFound):
        await a_tasks.update(task.id, {"project_id": theirs.id})
    assert (await Tasks(db).get(task.id)).project_id == first.id

    moved = await a_tasks.update(task.id, {"project_id": second.id})
    assert moved.project_id == second.id


async def test_policy_refusals_on_visible_rows_are_permission_denied(db: Database) -> None:
    creator, member = new_user(), new_user()
    creator_projects, creator_tasks = services(db, creator)
    member_projects, member_tasks = services(db, member)
    project = await create_as(creator_projects, {"name": "shared"})
    await Memberships(db).add(Membership(user_id=member, project_id=project.id))
    task = await create_as(creator_tasks, {"project_id": project.id, "title": "t", "done": True})

    with pytest.raises(PermissionDenied):
        await member_projects.delete(project.id, expected_version=1)
    with pytest.raises(PermissionDenied):
        await member_tasks.update(task.id, {"title": "renamed"})

    assert (await member_tasks.update(task.id, {"estimate": 3})).estimate == 3
    assert (await member_projects.get(project.id)).deleted_at is None
    await creator_projects.delete(project.id, expected_version=1)


async def test_after_create_runs_in_the_same_unit_of_work(db: Database) -> None:
    user = new_user()
    projects, _ = services(db, user)

    project = await create_as(projects, {"name": "p"})
    assert await Memberships(db).count(where("project_id") == project.id) == 1

    class FailingProjects(ProjectService):
        async def after_create(self, uow: UnitOfWork, entity: Project) -> None:
            await super().after_create(uow, entity)
            raise Conflict("the hook refused")

    with pytest.raises(Conflict):
        await create_as(FailingProjects(db, User(user)), {"name": "rolled back"})
    assert await Projects(db).count() == 1
    assert await Memberships(db).count() == 1


async def test_g12_service_create_refuses_server_owned_values(db: Database) -> None:
    projects, _ = services(db, new_user())
    for field, value in [("id", new_user()), ("version", 7), ("deleted_at", None)]:
        with pytest.raises(InvalidInput) as caught:
            await create_as(projects, {"name": "p", field: value})
        assert [e.field for e in caught.value.errors] == [field]
    assert await Projects(db).count() == 0


async def test_invalid_values_are_invalid_input(db: Database) -> None:
    projects, _ = services(db, new_user())
    with pytest.raises(InvalidInput) as caught:
        await create_as(projects, {"name": "", "priority": 99})
    assert {e.field for e in caught.value.errors} == {"name", "priority"}


async def test_restore_brings_back_a_deleted_row_and_refuses_a_live_one(db: Database) -> None:
    projects, _ = services(db, new_user())
    project = await create_as(projects, {"name": "p"})

    with pytest.raises(Conflict):
        await projects.restore(project.id)
    await projects.delete(project.id, expected_version=1)
    with pytest.raises(NotFound):
        await projects.get(project.id)

    restored = await projects.restore(project.id)
    assert restored.deleted_at is None
    assert restored.version == 3
    assert [e.action for e in await projects.history(project.id)] == [
        "create",
        "delete",
        "restore",
    ]


async def test_a_member_added_later_sees_the_project(db: Database) -> None:
    owner, newcomer = new_user(), new_user()
    owner_projects, _ = services(db, owner)
    newcomer_projects, newcomer_tasks = services(db, newcomer)
    project = await create_as(owner_projects, {"name": "p"})
    with pytest.raises(NotFound):
        await newcomer_projects.get(project.id)

    await Memberships(db).add(Membership(user_id=newcomer, project_id=project.id))

    assert (await newcomer_projects.get(project.id)).name == "p"
    task = await create_as(newcomer_tasks, {"project_id": project.id, "title": "hello"})
    assert isinstance(task, Task)


async def test_g4_a_service_outside_a_request_acts_as_its_principal(db: Database) -> None:
    ann, admin = new_user(), new_user()
    projects, _ = services(db, ann)
    made = await projects.create({"name": "scripted"})  # no request: no actor in force
    assert (made.created_by_id, made.updated_by_id) == (ann, ann)
    (entry,) = await Projects(db).history(made.id)
    assert entry.actor_id == ann
    with use_context(actor_id=admin):  # an actor in force is the one recorded
        renamed = await projects.update(made.id, {"name": "by the admin"}, expected_version=1)
    assert renamed.updated_by_id == admin
