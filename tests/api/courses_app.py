"""A course catalogue: the second-domain app the actions, scopes and hooks tests run against.

Everyone reads the published courses (anonymous callers too), and their own drafts (the read scope:
``any_of(published, mine)``); only a course's owner changes it (the write
scope: ``OwnedBy``). ``POST /courses/{id}/publish`` is an action;
``GET /courses/{id}/history`` the audit trail. Enrollments are nested in a
course; only a published course takes them (a ``before_create`` rule).

Authentication is the projects app's stand-in: ``X-Test-User`` carries the user's id.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from tests.service.projects_app import (
    User,
    UserClient,
    optional_user_from_header,
    user_from_header,
)

from lamina.api import (
    ApiSettings,
    IfMatch,
    Parent,
    ResourceAction,
    ResourceSchemas,
    Route,
    install,
    problem_responses,
    provide_service,
    resource_router,
)
from lamina.domain import (
    SERVER_OWNED,
    ActorTracked,
    Conflict,
    DomainEvent,
    Entity,
    InvalidInput,
    SoftDeletable,
    Timestamped,
    Versioned,
    utcnow,
)
from lamina.persistence import (
    Database,
    Filter,
    Repository,
    SoftDeleteColumn,
    StandardColumns,
    TimestampColumns,
    UnitOfWork,
    UTCDateTime,
    UUIDPrimaryKey,
    any_of,
    new_metadata,
    where,
)
from lamina.service import OwnedBy, Scope, Service, Target

SECRET = "courses-tests-secret"
MIN_PUBLISHED_TITLE = 5


class CourseStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Course(Timestamped, SoftDeletable, Versioned, ActorTracked, Entity):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    owner_id: Annotated[UUID, SERVER_OWNED]
    status: CourseStatus = CourseStatus.DRAFT
    published_at: datetime | None = None


class Enrollment(Timestamped, Entity):
    course_id: UUID
    user_id: Annotated[UUID, SERVER_OWNED]


class CoursePublished(DomainEvent, type="course.published", stream="course_id"):
    course_id: UUID


class Rows(DeclarativeBase):
    metadata = new_metadata()


class CourseRow(StandardColumns, SoftDeleteColumn, Rows):
    __tablename__ = "cs_courses"
    title: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[UUID] = mapped_column(Uuid(), index=True)
    status: Mapped[str] = mapped_column(String(20))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EnrollmentRow(UUIDPrimaryKey, TimestampColumns, Rows):
    __tablename__ = "cs_enrollments"
    course_id: Mapped[UUID] = mapped_column(ForeignKey("cs_courses.id"), index=True)
    user_id: Mapped[UUID] = mapped_column(Uuid())


class Courses(Repository[Course, CourseRow]):
    filterable = ("title", "status", "owner_id")
    sortable = ("title", "created_at")


class Enrollments(Repository[Enrollment, EnrollmentRow]):
    filterable = ("course_id", "user_id")


class PublishedOrMine(Scope[User]):
    """Published courses, and the caller's own drafts."""

    async def filters(self, principal: User | None, target: Target) -> Sequence[Filter]:
        if principal is None:  # anonymous callers read the catalogue
            return (where("status") == CourseStatus.PUBLISHED,)
        return (
            any_of(
                where("status") == CourseStatus.PUBLISHED,
                where("owner_id") == principal.id,
            ),
        )


CourseTitle = Annotated[str, Field(min_length=1, max_length=200)]


class CourseOutline(BaseModel):
    title: str
    published: bool


class CourseService(Service[Course, User]):
    repository = Courses
    scope = PublishedOrMine()
    write_scope = OwnedBy("owner_id")
    history_needs_write = True

    def new_entity(self, values: Mapping[str, Any]) -> Course:
        return super().new_entity({**values, "owner_id": self.principal.id})

    async def before_update(
        self, uow: UnitOfWork, current: Course, changes: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Titles are stored with their runs of spaces collapsed."""
        if "title" in changes:
            return {**changes, "title": " ".join(changes["title"].split())}
        return changes

    async def before_action(
        self, uow: UnitOfWork, action: str, current: Course, changes: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        if action == "publish" and len(current.title) < MIN_PUBLISHED_TITLE:
            raise InvalidInput.for_field(
                "title", f"a published course has a title of at least {MIN_PUBLISHED_TITLE}"
            )
        return changes

    async def publish(self, id: UUID, *, expected_version: int | None = None) -> Course:
        """Publish a draft course."""

        async def publishing(uow: UnitOfWork, course: Course) -> dict[str, Any]:
            if course.status is CourseStatus.PUBLISHED:
                raise Conflict("this course is published already")
            uow.publish(CoursePublished(course_id=course.id))
            return {"status": CourseStatus.PUBLISHED, "published_at": utcnow()}

        return await self.act(id, "publish", publishing, expected_version=expected_version)

    async def rename(
        self, id: UUID, *, title: CourseTitle, expected_version: int | None = None
    ) -> Course:
        """Rename a course (If-Match optional)."""

        async def renaming(uow: UnitOfWork, course: Course) -> dict[str, Any]:
            return {"title": title}

        return await self.act(id, "rename", renaming, expected_version=expected_version)

    async def headline(
        self, id: UUID, title: str, *, expected_version: int | None = None
    ) -> Course:
        """Rename a course; ``title: str`` takes the entity's rules for its title."""
        return await self.rename(id, title=title, expected_version=expected_version)

    async def outline(self, id: UUID) -> CourseOutline:
        """The course's title and whether it is published (a read answering another model)."""
        course = await self.get(id)
        return CourseOutline(title=course.title, published=course.status is CourseStatus.PUBLISHED)

    async def others(
        self, id: UUID, limit: Annotated[int, Field(ge=1, le=10)] = 3, mine: bool = False
    ) -> list[Course]:
        """Other courses the caller sees (a read with query parameters, answering a list)."""
        await self.get(id)
        found = await (await self.scoped()).list(order_by=["title"])
        others = [c for c in found if c.id != id]
        return [c for c in others if not mine or c.owner_id == self.principal.id][:limit]

    async def join(self, id: UUID) -> Enrollment:
        """Enroll the caller (an action answering another entity)."""
        return await EnrollmentService(self.db, self.principal).create({"course_id": id})

    async def bookmark(self, id: UUID) -> None:
        """Check the course is there for the caller (an action answering nothing)."""
        await self.get(id)


class EnrollmentService(Service[Enrollment, User]):
    repository = Enrollments
    scope = OwnedBy("user_id")

    def new_entity(self, values: Mapping[str, Any]) -> Enrollment:
        return super().new_entity({**values, "user_id": self.principal.id})

    async def before_create(self, uow: UnitOfWork, entity: Enrollment) -> Enrollment:
        course = await Courses(uow).get(entity.course_id, for_share=True)
        if course.status is not CourseStatus.PUBLISHED:
            raise Conflict("only a published course takes enrollments")
        return entity


class Renaming(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: CourseTitle


COURSE_SCHEMAS = ResourceSchemas.from_entity(Course, exclude_input={"status", "published_at"})
"""Publishing sets the status and its time: clients never send them."""


def build_app(db: Database) -> FastAPI:
    app = FastAPI(title="courses")
    install(app, ApiSettings(access_log=False))
    courses = provide_service(CourseService, db, optional_user_from_header)
    unauthenticated = problem_responses(401)
    app.include_router(
        resource_router(
            CourseService,
            provide=courses,
            path="/courses",
            schemas=COURSE_SCHEMAS,
            routes=set(Route) - {Route.PUT_MINE, Route.DELETE_MINE, Route.CREATE_MANY},
            responses=unauthenticated,
            actions=[
                ResourceAction("publish", CourseService.publish),
                ResourceAction(
                    "rename", CourseService.rename, body=Renaming, if_match=IfMatch.OPTIONAL
                ),
                ResourceAction("retitle", CourseService.rename),  # the body from the signature
                ResourceAction("headline", CourseService.headline),  # the entity's rules
                ResourceAction("outline", CourseService.outline, method="GET"),  # answers from
                ResourceAction("others", CourseService.others, method="GET"),
                ResourceAction("join", CourseService.join),  # ...the methods' annotations
                ResourceAction("bookmark", CourseService.bookmark),
            ],
        )
    )
    app.include_router(
        resource_router(
            EnrollmentService,
            provide=provide_service(EnrollmentService, db, user_from_header),
            path="/courses/{course_id}/enrollments",
            item_path="/enrollments/{id}",
            parent=Parent("course_id", provide=courses),
            routes={Route.LIST, Route.CREATE, Route.GET},
            responses=unauthenticated,
        )
    )
    return app


class CoursesApi(UserClient):
    """An HTTP client of the course app."""

    async def new_course(self, user: UUID, title: str = "Python basics") -> dict[str, Any]:
        response = await self.request(user, "POST", "/courses", json={"title": title})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def published_course(self, user: UUID, title: str = "Python basics") -> dict[str, Any]:
        course = await self.new_course(user, title)
        response = await self.request(
            user, "POST", f"/courses/{course['id']}/publish", headers={"If-Match": '"1"'}
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@asynccontextmanager
async def courses_api(url: str) -> AsyncIterator[CoursesApi]:
    """The course app on a fresh database, with an httpx client over ASGI."""
    db = Database(url, secret_key=SECRET)
    await db.drop_all(Rows.metadata)
    await db.create_all(Rows.metadata)
    app = build_app(db)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield CoursesApi(db, app, client)
    finally:
        await db.close()
