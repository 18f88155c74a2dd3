"""The routes: lamina's resource routers over the services."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from examples.learning import domain as d
from examples.learning import services as s
from lamina.api import (
    DEFAULT_ROUTES,
    ResourceAction,
    Resources,
    ResourceSchemas,
    Route,
    create_schema,
)


class Progress(BaseModel):
    video_id: UUID
    watched_s: int
    completed: bool


class CourseProgress(BaseModel):
    videos: list[Progress]
    completed_share: float


def routers(resources: Resources) -> list[APIRouter]:
    """Every route of the service but the accounts'."""
    nested = {Route.LIST, Route.CREATE}
    one = ResourceSchemas.from_entity
    return [
        resources.router(
            s.CourseService,
            path="/courses",
            schemas=one(d.Course, optional_input={"slug"}),  # derived from the title
            routes={*DEFAULT_ROUTES, Route.HISTORY},
            query_aliases={"q": "title__icontains"},
            actions=[
                ResourceAction("publish", s.CourseService.publish),
                ResourceAction("archive", s.CourseService.archive),
                ResourceAction(
                    "progress", s.CourseService.progress, method="GET", out=CourseProgress
                ),
            ],
        ),
        resources.router(
            s.VideoService,
            path="/courses/{course_id}/videos",
            parent=s.CourseService,
            routes={*DEFAULT_ROUTES, Route.HISTORY},
        ),
        resources.router(
            s.ProgressService,
            path="/videos",
            routes=(),
            actions=[
                ResourceAction(
                    "progress",
                    s.ProgressService.record,
                    body=create_schema(d.VideoProgress),  # the entity's rules: 422s
                    method="PUT",
                    errors=(),
                )
            ],
        ),
        resources.router(
            s.EnrollmentService,
            path="/courses/{course_id}/enrollments",
            parent=s.CourseService,
            routes={Route.CREATE},
            actions=[
                ResourceAction(
                    "unenroll",
                    s.EnrollmentService.unenroll,
                    on="collection",
                    path="me",
                    method="DELETE",
                    errors=(),
                ),
            ],
        ),
        resources.router(s.EnrollmentService, path="/users/me/enrollments", routes={Route.LIST}),
        resources.router(
            s.ReviewService,
            path="/courses/{course_id}/reviews",
            parent=s.CourseService,
            routes=nested,
        ),
        resources.router(
            s.QuizService,
            path="/courses/{course_id}/quizzes",
            parent=s.CourseService,
            schemas=one(d.Quiz, exclude_input={"course_id"}),
            routes={*nested, Route.GET},
        ),
        resources.router(
            s.AttemptService,
            path="/quizzes/{quiz_id}/attempts",
            parent=s.QuizService,
            routes=nested,
        ),
        resources.router(
            s.ChatService,
            path="/courses/{course_id}/chats",
            parent=s.CourseService,
            routes={Route.LIST, Route.GET, Route.CREATE},
        ),
        resources.router(
            s.MessageService,
            path="/chats/{chat_id}/messages",
            parent=s.ChatService,
            routes=nested,
        ),
    ]
