"""``Transition``: a lifecycle step declared on a service, run as an action (``Service.act``)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from tests.service.projects_app import (
    Project,
    Projects,
    ProjectService,
    Status,
    TaskService,
    User,
    fresh_database,
    new_user,
)

from lamina.api import IfMatch, ResourceAction
from lamina.domain import Conflict, DomainEvent, NotFound, VersionConflict, utcnow
from lamina.events import EventStore
from lamina.persistence import Database, UnitOfWork
from lamina.service import Transition


class ProjectClosed(DomainEvent, type="project.closed", stream="project_id"):
    project_id: UUID
    name: str


async def has_a_description(uow: UnitOfWork, project: Project) -> None:
    if not project.description:
        raise Conflict("describe the project before closing it")


class Lifecycle(ProjectService):
    close = Transition("status", {Status.OPEN}, Status.CLOSED, guard=has_a_description)
    reopen = Transition(
        "status", {Status.CLOSED}, Status.OPEN, also=lambda p, priority=0: {"priority": priority}
    )
    publishes = {"close": ProjectClosed}


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await fresh_database(db_url)
    yield database
    await database.close()


async def test_a_transition_moves_the_entity_and_publishes_its_event(db: Database) -> None:
    service = Lifecycle(db, User(new_user()))
    project = await service.create({"name": "Docs", "description": "the manual", "priority": 3})

    closed = await service.close(project.id, expected_version=project.version)
    reopened = await service.reopen(closed.id)
    await service.close(project.id)
    urgent = await service.reopen(project.id, priority=9)  # the call's values reach ``also``

    assert (closed.status, closed.version) == (Status.CLOSED, project.version + 1)
    assert (reopened.status, reopened.priority) == (Status.OPEN, 0)
    assert (urgent.status, urgent.priority) == (Status.OPEN, 9)
    events = [stored.decode() for stored in await EventStore(db).read()]
    assert events == [ProjectClosed(project_id=project.id, name="Docs")] * 2


async def test_a_transition_from_another_state_or_refused_by_its_guard_writes_nothing(
    db: Database,
) -> None:
    service = Lifecycle(db, User(new_user()))
    bare = await service.create({"name": "Bare"})
    described = await service.create({"name": "Docs", "description": "the manual"})

    with pytest.raises(
        Conflict, match=r"cannot reopen a Project that is open \(only one that is closed"
    ):
        await service.reopen(described.id)
    with pytest.raises(Conflict, match="describe the project"):
        await service.close(bare.id)
    with pytest.raises(VersionConflict):
        await service.close(described.id, expected_version=described.version + 1)
    with pytest.raises(NotFound):  # the scope holds: another user's project is not there
        await Lifecycle(db, User(new_user())).close(described.id)

    stored = {p.id: (p.status, p.version) for p in await Projects(db).list()}
    assert stored == {bare.id: (Status.OPEN, 1), described.id: (Status.OPEN, 1)}
    assert await EventStore(db).read() == []


def test_a_transition_is_a_method_an_action_mounts_with_if_match() -> None:
    assert "expected_version" in inspect.signature(Lifecycle.close).parameters
    assert Lifecycle.close.__doc__ == "Close the Project (from open to closed)."
    action = ResourceAction("close", Lifecycle.close)
    assert action.precondition(versioned=True) is IfMatch.REQUIRED
    assert action.summary_text("Project") == "Close the Project (from open to closed)"


class Prioritised(ProjectService):
    reopen = Transition(
        "status", {Status.CLOSED}, Status.OPEN, takes=["priority"], also=lambda p, **v: v
    )


def test_a_transition_takes_entity_fields_as_its_actions_body() -> None:
    action = ResourceAction("reopen", Prioritised.reopen).with_signature_body(
        takes_target=True, entity=Project
    )
    assert action.body is not None
    assert list(action.body.model_fields) == ["priority"]
    assert action.body.model_validate({}).priority == 0  # the entity's default
    for bad in ({"priority": 11}, {"priority": 1, "name": "x"}):  # the entity's rules, no extra
        with pytest.raises(ValueError, match=r"priority|extra"):
            action.body.model_validate(bad)


class Misspelt(ProjectService):
    reopen = Transition("status", {Status.CLOSED}, Status.OPEN, takes=["nothing"])


def test_a_transition_takes_only_fields_of_the_entity() -> None:
    with pytest.raises(TypeError, match="no such field"):
        _ = Misspelt.reopen


def test_resource_actions_of_every_transition_in_declaration_order() -> None:
    class Reviewed(Lifecycle):  # a subclass adds one and keeps its parent's
        approve = Transition("status", {Status.OPEN}, Status.OPEN)

    actions = ResourceAction.transitions(Reviewed, if_match=IfMatch.NONE)
    assert [a.name for a in actions] == ["close", "reopen", "approve"]
    assert all(a.if_match is IfMatch.NONE for a in actions)
    assert actions[0].call is Reviewed.close
    with pytest.raises(ValueError, match="declares no Transition"):
        ResourceAction.transitions(ProjectService)


class Reprioritised(ProjectService):
    bump = Transition("status", {Status.OPEN}, Status.OPEN, takes=["priority"])


class TaskLifecycle(TaskService):
    finish = Transition("done", {False}, True, stamp="due_at")


async def test_taken_values_are_set_and_a_stamp_takes_the_time(db: Database) -> None:
    user = User(new_user())
    project = await Reprioritised(db, user).create({"name": "Docs"})
    bumped = await Reprioritised(db, user).bump(project.id, priority=7)
    assert bumped.priority == 7  # no `also` needed to keep what the call takes

    task = await TaskLifecycle(db, user).create({"project_id": project.id, "title": "write"})
    before = utcnow()
    done = await TaskLifecycle(db, user).finish(task.id)
    assert done.done is True
    assert done.due_at is not None
    assert done.due_at >= before


def test_a_stamp_on_a_field_the_entity_lacks_is_refused() -> None:
    class Odd(TaskService):
        finish = Transition("done", {False}, True, stamp="finished_at")

    with pytest.raises(TypeError, match="stamps 'finished_at': no such field"):
        Odd.finish  # noqa: B018
