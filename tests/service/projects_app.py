"""A small multi-tenant app the service and resource-router tests run against.

Projects and the tasks inside them. A user sees the projects it is a member
of (``MemberOf("id", ...)``) and the tasks of those projects
(``MemberOf("project_id", ...)``); creating a project makes its creator a
member in the same unit of work. Policies: only a project's creator may
delete it; a finished task cannot be renamed.

Authentication is a stand-in: the ``X-Test-User`` header carries the user's
id (lamina's token-based ``current_principal`` replaces it in real apps).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import FastAPI, Security
from fastapi.security import APIKeyHeader
from pydantic import Field
from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import (
    DEFAULT_ROUTES,
    ApiSettings,
    Parent,
    Route,
    install,
    problem_responses,
    provide_service,
    resource_router,
    update_request_context,
)
from lamina.domain import (
    READ_ONLY,
    SENSITIVE,
    ActorTracked,
    Entity,
    SoftDeletable,
    Timestamped,
    Unauthenticated,
    Versioned,
    uuid7,
)
from lamina.persistence import (
    Database,
    Repository,
    SoftDeleteColumn,
    StandardColumns,
    TimestampColumns,
    UTCDateTime,
    UUIDPrimaryKey,
    new_metadata,
    where,
)
from lamina.service import Action, MemberOf, Policy, Service, Target

SECRET = "resource-tests-secret"
USER_HEADER = "X-Test-User"


class Status(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Project(Timestamped, SoftDeletable, Versioned, ActorTracked, Entity):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str | None, Field(max_length=1000)] = None
    status: Status = Status.OPEN
    priority: Annotated[int, Field(ge=0, le=10)] = 0
    api_key: Annotated[str | None, SENSITIVE, Field(max_length=100)] = None


class Membership(Timestamped, Entity):
    user_id: UUID
    project_id: UUID


class Task(Timestamped, SoftDeletable, Versioned, ActorTracked, Entity):
    project_id: Annotated[UUID, READ_ONLY]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    done: bool = False
    estimate: Annotated[int | None, Field(ge=0)] = None
    due_at: datetime | None = None


class Rows(DeclarativeBase):
    metadata = new_metadata()


class ProjectRow(StandardColumns, SoftDeleteColumn, Rows):
    __tablename__ = "rs_projects"
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer)
    api_key: Mapped[str | None] = mapped_column(String(100))


class MembershipRow(UUIDPrimaryKey, TimestampColumns, Rows):
    __tablename__ = "rs_memberships"
    __table_args__ = (UniqueConstraint("user_id", "project_id"),)
    user_id: Mapped[UUID] = mapped_column(Uuid(), index=True)
    project_id: Mapped[UUID] = mapped_column(ForeignKey("rs_projects.id"))


class TaskRow(StandardColumns, SoftDeleteColumn, Rows):
    __tablename__ = "rs_tasks"
    project_id: Mapped[UUID] = mapped_column(ForeignKey("rs_projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(Boolean)
    estimate: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Projects(Repository[Project, ProjectRow]):
    filterable = ("name", "description", "status", "priority", "created_at", "api_key")
    sortable = ("name", "priority", "created_at")
    default_order = ("-created_at",)


class Memberships(Repository[Membership, MembershipRow]):
    filterable = ("user_id", "project_id")


class Tasks(Repository[Task, TaskRow]):
    filterable = {
        "project_id": ["eq"],
        "title": ["eq", "icontains", "startswith"],
        "done": ["eq"],
        "estimate": ["eq", "lt", "le", "gt", "ge", "is_null"],
        "due_at": ["lt", "gt", "is_null"],
    }
    sortable = ("title", "estimate", "due_at", "created_at")
    default_order = ("created_at",)


@dataclass(frozen=True)
class User:
    """The principal: who calls."""

    id: UUID


async def projects_of(user: User, target: Target) -> list[UUID]:
    """The ids of the projects ``user`` is a member of."""
    memberships = await Memberships(target).list(where("user_id") == user.id, limit=1000)
    return [m.project_id for m in memberships]


class CreatorDeletes(Policy[User, Project]):
    """Any member may change a project; only its creator may delete or restore it."""

    def allows(
        self, principal: User, action: Action, entity: Project | None, changes: Mapping[str, Any]
    ) -> bool:
        if action in (Action.DELETE, Action.RESTORE):
            return entity is not None and entity.created_by_id == principal.id
        return True


class FinishedTasksKeepTheirTitle(Policy[User, Task]):
    """A task that is done cannot be renamed."""

    def allows(
        self, principal: User, action: Action, entity: Task | None, changes: Mapping[str, Any]
    ) -> bool:
        renaming = action is Action.UPDATE and "title" in changes
        return not (renaming and entity is not None and entity.done)


class ProjectService(Service[Project, User]):
    repository = Projects
    scope = MemberOf("id", projects_of)
    policy = CreatorDeletes()

    async def after_create(self, uow: Any, entity: Project) -> None:
        await Memberships(uow).add(Membership(user_id=self.principal.id, project_id=entity.id))


class TaskService(Service[Task, User]):
    repository = Tasks
    scope = MemberOf("project_id", projects_of)
    policy = FinishedTasksKeepTheirTitle()


_user_header = APIKeyHeader(name=USER_HEADER, auto_error=False)


async def user_from_header(header: str | None = Security(_user_header)) -> User:
    """The stand-in authentication: the user id in ``X-Test-User``, else 401."""
    try:
        user = User(UUID(header or ""))
    except ValueError:
        raise Unauthenticated("send X-Test-User: <user id>") from None
    update_request_context(actor_id=user.id)
    return user


async def optional_user_from_header(header: str | None = Security(_user_header)) -> User | None:
    """The caller, or None (an anonymous reader) without ``X-Test-User``."""
    return None if header is None else await user_from_header(header)


ALL_ROUTES = (*DEFAULT_ROUTES, Route.COUNT)


def build_app(db: Database) -> FastAPI:
    """The HTTP app: ``/projects`` and ``/projects/{project_id}/tasks`` + ``/tasks/{task_id}``."""
    app = FastAPI(title="projects")
    install(app, ApiSettings(access_log=False))
    projects = provide_service(ProjectService, db, user_from_header)
    tasks = provide_service(TaskService, db, user_from_header)
    unauthenticated = problem_responses(401)
    app.include_router(
        resource_router(
            ProjectService,
            provide=projects,
            path="/projects",
            routes=ALL_ROUTES,
            query_aliases={"q": "name__icontains"},
            responses=unauthenticated,
            tags=["projects"],
        )
    )
    app.include_router(
        resource_router(
            TaskService,
            provide=tasks,
            path="/projects/{project_id}/tasks",
            item_path="/tasks/{task_id}",
            parent=Parent("project_id", provide=projects),
            routes=ALL_ROUTES,
            responses=unauthenticated,
            tags=["tasks"],
        )
    )
    return app


async def fresh_database(url: str) -> Database:
    """A :class:`Database` on ``url`` with empty lamina and test tables."""
    db = Database(url, secret_key=SECRET)
    await db.drop_all(Rows.metadata)
    await db.create_all(Rows.metadata)
    return db


class UserClient:
    """An HTTP client of a test app, acting as one user or another (``X-Test-User``)."""

    def __init__(self, db: Database, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.db = db
        self.app = app
        self.client = client

    @staticmethod
    def as_user(user: UUID) -> dict[str, str]:
        return {USER_HEADER: str(user)}

    async def request(
        self, user: UUID | None, method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers.update(self.as_user(user))
        return await self.client.request(method, url, headers=headers, **kwargs)


class ProjectsApi(UserClient):
    """An HTTP client of the projects app."""

    async def new_project(self, user: UUID, **fields: Any) -> dict[str, Any]:
        body = {"name": "project", **fields}
        response = await self.request(user, "POST", "/projects", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def new_task(self, user: UUID, project_id: str, **fields: Any) -> dict[str, Any]:
        body = {"title": "task", **fields}
        response = await self.request(user, "POST", f"/projects/{project_id}/tasks", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@asynccontextmanager
async def projects_api(url: str) -> AsyncIterator[ProjectsApi]:
    """The test app on a fresh database, with an httpx client over ASGI."""
    db = await fresh_database(url)
    app = build_app(db)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield ProjectsApi(db, app, client)
    finally:
        await db.close()


def new_user() -> UUID:
    """A fresh user id."""
    return uuid7()
