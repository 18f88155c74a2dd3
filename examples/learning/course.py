"""The course area: courses, their videos and quizzes, with their events, tables, use cases and
routes. Anyone sees a published course, its instructor any; what hangs off a course is seen
with it and changed by its instructor only (403 if the caller sees the course, else 404)."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated, Literal, Self
from uuid import UUID

from fastapi import APIRouter
from pydantic import Field, model_validator
from sqlalchemy import desc

from examples.learning.base import Actor, LearningBase
from examples.learning.user import User
from lamina.api import DEFAULT_ROUTES, ResourceAction, Resources, Route
from lamina.domain import (
    EDITORS_ONLY,
    READ_ONLY,
    SERVER_OWNED,
    Conflict,
    Description,
    DomainEvent,
    Price,
    References,
    Slug,
    SoftDeletable,
    StandardEntity,
    Title,
    Unique,
    ValueObject,
    WebAddress,
    slug_of,
)
from lamina.persistence import Repository, UnitOfWork, any_of, live_index, where
from lamina.service import Filtered, OwnedBy, Service, Transition, Within


class CourseStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Course(StandardEntity, SoftDeletable):
    title: Title
    slug: Annotated[Slug, Unique(), Field(default_factory=slug_of("title", fallback="course"))]
    description: Description = ""
    difficulty: Literal["beginner", "intermediate", "advanced"] = "beginner"
    price: Price = Price.free()
    status: Annotated[CourseStatus, READ_ONLY] = CourseStatus.DRAFT
    rating: Annotated[Decimal, SERVER_OWNED, Field(ge=0, le=5, max_digits=3, decimal_places=2)] = (
        Decimal(0)
    )
    enrollment_count: Annotated[int, SERVER_OWNED, Field(ge=0)] = 0
    instructor_id: Annotated[UUID, READ_ONLY, References(User)]


class Video(StandardEntity, SoftDeletable):
    course_id: Annotated[UUID, READ_ONLY, References(Course)]
    title: Title
    position: Annotated[int, Field(ge=1), Unique("course_id")]
    duration_s: Annotated[int, Field(gt=0)]
    url: WebAddress


class Question(ValueObject):
    prompt: Title
    choices: Annotated[list[Title], Field(min_length=2, max_length=6)]
    answer: Annotated[int, Field(ge=0), EDITORS_ONLY]  # readers get None

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> Self:
        if self.answer >= len(self.choices):
            raise ValueError("answer must be the index of one of the choices")
        return self


class Quiz(StandardEntity):
    course_id: Annotated[UUID, READ_ONLY, References(Course)]
    title: Title
    questions: Annotated[list[Question], Field(min_length=1, max_length=50)]


class CourseEvent(DomainEvent):
    course_id: UUID


class CoursePublished(CourseEvent, type="course.published", stream="course_id"):
    instructor_id: UUID


class CourseArchived(CourseEvent, type="course.archived", stream="course_id"): ...


# --- tables and repositories ----------------------------------------------------------------


class CourseRow(LearningBase, entity=Course, tablename="learning_courses"):
    __table_args__ = (
        live_index("ix_learning_courses_rating", desc("rating"), desc("id")),
        live_index("ix_learning_courses_enrollments", desc("enrollment_count"), desc("id")),
        live_index("ix_learning_courses_created_at", desc("created_at"), desc("id")),
    )


class VideoRow(LearningBase, entity=Video, tablename="learning_videos"): ...


class QuizRow(LearningBase, entity=Quiz, tablename="learning_quizzes"): ...


class Courses(Repository[Course, CourseRow]):
    filterable = ("difficulty", "status", "price.amount", "price.currency", "title", "slug")
    sortable = ("rating", "enrollment_count", "created_at", "price.amount", "title")
    default_order = ("-created_at",)
    derived = ("rating", "enrollment_count")  # kept by the course-stats projection


class Videos(Repository[Video, VideoRow]):  # by id and course, like every repository
    sortable = ("position",)
    default_order = ("position",)


# --- use cases ------------------------------------------------------------------------------

PUBLISHED = where("status") == CourseStatus.PUBLISHED


async def has_video(uow: UnitOfWork, course: Course) -> None:
    if not await Videos(uow).exists(where("course_id") == course.id):
        raise Conflict("add a video before publishing the course")


class CourseService(Service[Course, Actor]):  # the instructor: the caller (OwnedBy)
    repository = Courses
    scope = Filtered(
        lambda p: [any_of(PUBLISHED, where("instructor_id") == p.user_id)] if p else [PUBLISHED]
    )
    write_scope = OwnedBy("instructor_id")
    history_needs_write = True  # the audit trail is the instructor's to read
    publishes = {"publish": CoursePublished, "archive": CourseArchived}

    publish = Transition("status", {CourseStatus.DRAFT}, CourseStatus.PUBLISHED, guard=has_video)
    archive = Transition("status", {CourseStatus.PUBLISHED}, CourseStatus.ARCHIVED)


class VideoService(Service[Video, Actor]):
    repository = Videos
    scope = Within("course_id", CourseService)
    write_scope = Within("course_id", CourseService, write=True)


class QuizService(Service[Quiz, Actor]):
    scope = Within("course_id", CourseService)
    write_scope = Within("course_id", CourseService, write=True)  # ...who see the answers


# --- routes ---------------------------------------------------------------------------------


def course_routers(resources: Resources) -> list[APIRouter]:
    """``/courses`` (with publish and archive), their videos and quizzes."""
    return [
        resources.router(
            CourseService,
            path="/courses",
            routes={*DEFAULT_ROUTES, Route.HISTORY},
            query_aliases={"q": "title__icontains"},
            actions=ResourceAction.transitions(CourseService),  # publish, archive
        ),
        resources.router(
            VideoService,
            path="/courses/{course_id}/videos",
            routes={*DEFAULT_ROUTES, Route.HISTORY},
        ),
        resources.router(
            QuizService,
            path="/courses/{course_id}/quizzes",
            routes={Route.LIST, Route.CREATE, Route.GET},
        ),
    ]
