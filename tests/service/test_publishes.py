"""``Service.publishes``: a use case's event, made from the entity it changed, in its unit of
work (stored with the change, or not at all)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from tests.service.projects_app import (
    Project,
    Projects,
    Task,
    Tasks,
    User,
    fresh_database,
    new_user,
)

from lamina.domain import DomainEvent, InvalidInput, uuid7
from lamina.events import EventStore
from lamina.persistence import Database
from lamina.service import Service


class TaskAdded(DomainEvent, type="task.added", stream="project_id"):
    task_id: UUID
    project_id: UUID
    title: str
    urgent: bool = False  # not a task field: keeps its default


class TaskRemoved(DomainEvent, type="task.removed", stream="project_id"):
    task_id: UUID
    project_id: UUID


class TaskService(Service[Task, User]):
    repository = Tasks
    publishes = {"create": TaskAdded, "delete": TaskRemoved}


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await fresh_database(db_url)
    yield database
    await database.close()


async def test_a_use_case_publishes_its_event_made_from_the_entity(db: Database) -> None:
    service = TaskService(db, User(new_user()))
    project = (await Projects(db).add(Project(name="Docs"))).id
    task = await service.create({"project_id": project, "title": "Write the docs"})
    await service.delete(task.id)

    events = [stored.decode() for stored in await EventStore(db).read()]
    assert events == [
        TaskAdded(task_id=task.id, project_id=project, title="Write the docs"),
        TaskRemoved(task_id=task.id, project_id=project),
    ]


async def test_a_refused_use_case_publishes_nothing(db: Database) -> None:
    with pytest.raises(InvalidInput):
        await TaskService(db, User(new_user())).create({"project_id": uuid7(), "title": ""})
    assert await EventStore(db).read() == []


def test_an_event_the_entity_cannot_fill_is_refused_when_the_service_is_declared() -> None:
    class TaskClosed(DomainEvent, type="task.closed", stream="project_id"):
        task_id: UUID
        closed_by: UUID

    with pytest.raises(TypeError, match=r"TaskClosed has fields \['closed_by'\]"):

        class Closing(Service[Task, User]):
            repository = Tasks
            publishes = {"close": TaskClosed}
