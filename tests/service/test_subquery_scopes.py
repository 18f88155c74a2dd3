"""G10 with a scope whose tenants are a subquery: the same isolation, in one statement per read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.service.projects_app import (
    Membership,
    Memberships,
    Project,
    Projects,
    ProjectService,
    Tasks,
    TaskService,
    User,
    fresh_database,
    new_user,
)

from lamina.domain import NotFound, use_context
from lamina.persistence import Database, Subquery, count_queries, where
from lamina.service import MemberOf, Service, Target, unmet_filter


def my_projects(user: User, target: Target) -> Subquery:
    return Memberships.subquery("project_id", where("user_id") == user.id)


class SubqueryTaskService(TaskService):
    scope = MemberOf("project_id", my_projects)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await fresh_database(db_url)
    yield database
    await database.close()


async def as_user(service: Service[Any, Any], values: dict[str, Any]) -> Any:
    with use_context(actor_id=service.principal.id):
        return await service.create(values)


async def test_g10_a_subquery_scope_hides_other_tenants_in_one_statement(db: Database) -> None:
    a, b = User(new_user()), User(new_user())
    mine = await as_user(ProjectService(db, a), {"name": "mine"})
    theirs = await as_user(ProjectService(db, b), {"name": "theirs"})
    my_task = await as_user(SubqueryTaskService(db, a), {"project_id": mine.id, "title": "m"})
    their_task = await as_user(SubqueryTaskService(db, b), {"project_id": theirs.id, "title": "t"})
    tasks = SubqueryTaskService(db, a)

    with count_queries() as by_subquery:
        assert (await tasks.get(my_task.id)).title == "m"
    with count_queries() as by_ids:
        assert (await TaskService(db, a).get(my_task.id)).title == "m"
    assert (by_subquery.queries, by_ids.queries) == (1, 2)

    with pytest.raises(NotFound):
        await tasks.get(their_task.id)
    with pytest.raises(NotFound):
        await tasks.update(their_task.id, {"title": "mine now"})
    with pytest.raises(NotFound):
        await tasks.delete(their_task.id)
    assert [t.id for t in (await tasks.page()).items] == [my_task.id]
    assert await tasks.count() == 1
    assert (await Tasks(db).get(their_task.id)).title == "t"


async def test_g10_a_subquery_scope_refuses_creating_into_another_tenant(db: Database) -> None:
    a, b = User(new_user()), User(new_user())
    theirs = await as_user(ProjectService(db, b), {"name": "theirs"})

    with pytest.raises(NotFound) as caught:
        await as_user(SubqueryTaskService(db, a), {"project_id": theirs.id, "title": "sneaky"})

    assert caught.value.details()["entity"] == "Project"
    assert await Tasks(db).count() == 0


async def test_a_tenant_joined_earlier_in_the_unit_of_work_counts(db: Database) -> None:
    a = User(new_user())
    service = SubqueryTaskService(db, a)

    async def use_case(uow: Any) -> Any:
        project = await Projects(uow).add(Project(name="p"))
        await Memberships(uow).add(Membership(user_id=a.id, project_id=project.id))
        task = service.new_entity({"project_id": project.id, "title": "first"})
        repo = await service.scoped(uow)
        await service.check_in_scope(task, repo.scope, target=uow, creating=True)
        return await repo.add(task)

    task = await db.run(use_case)
    assert (await service.get(task.id)).title == "first"


def test_a_subquery_filter_cannot_be_checked_in_python() -> None:
    task = Tasks.entity.model_validate({"project_id": new_user(), "title": "t"})
    filters = [where("project_id").in_(my_projects(User(new_user()), None))]  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subquery"):
        unmet_filter(task, filters, Tasks.mapper())
