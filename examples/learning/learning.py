"""The learning area: enrollments, video progress, reviews, quiz attempts and tutor chats, with
their events, tables, use cases and routes. The caller's enrollments (``ENROLLED``) are where
progress, reviews and chats may be written; an attempt checks it in its use case."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import Index

from examples.learning import course
from examples.learning.base import Actor, LearningBase
from examples.learning.user import User
from lamina.api import ResourceAction, Resources, Route
from lamina.domain import (
    READ_ONLY,
    SERVER_OWNED,
    Conflict,
    ConstraintViolated,
    Description,
    MessageText,
    PermissionDenied,
    References,
    SoftDeletable,
    StandardEntity,
    Unique,
)
from lamina.events import Average, Count, Rollup
from lamina.persistence import Repository, UnitOfWork, where
from lamina.service import Filtered, OwnedBy, Service, Within


class Enrollment(StandardEntity, SoftDeletable):  # in a course once (among live ones)
    course_id: Annotated[UUID, READ_ONLY, References(course.Course), Unique("user_id")]
    user_id: Annotated[UUID, READ_ONLY, References(User)]


class VideoProgress(StandardEntity):
    video_id: Annotated[UUID, READ_ONLY, References(course.Video), Unique("user_id")]
    user_id: Annotated[UUID, READ_ONLY, References(User)]
    watched_s: Annotated[int, Field(ge=0)]
    completed: bool = False


class Review(StandardEntity):
    course_id: Annotated[UUID, READ_ONLY, References(course.Course), Unique("user_id")]
    user_id: Annotated[UUID, READ_ONLY, References(User)]
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Description = ""


class QuizAttempt(StandardEntity):
    quiz_id: Annotated[UUID, READ_ONLY, References(course.Quiz)]
    user_id: Annotated[UUID, READ_ONLY, References(User)]
    answers: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=50)]
    score: Annotated[int, SERVER_OWNED, Field(ge=0, le=100)] = 0


class TutorChat(StandardEntity):  # the seed's ai_chat
    course_id: Annotated[UUID, READ_ONLY, References(course.Course)]
    user_id: Annotated[UUID, READ_ONLY, References(User)]


class ChatMessage(StandardEntity):
    chat_id: Annotated[UUID, READ_ONLY, References(TutorChat)]
    role: Annotated[Literal["user", "assistant"], READ_ONLY] = "user"
    content: MessageText


class StudentEnrolled(course.CourseEvent, type="student.enrolled", stream="course_id"):
    user_id: UUID


class StudentUnenrolled(course.CourseEvent, type="student.unenrolled", stream="course_id"):
    user_id: UUID


class ReviewPosted(course.CourseEvent, type="review.posted", stream="course_id"):
    user_id: UUID
    rating: int


class QuizAttempted(course.CourseEvent, type="quiz.attempted", stream="course_id"):
    quiz_id: UUID
    user_id: UUID
    score: int


# --- tables and repositories ----------------------------------------------------------------


class EnrollmentRow(LearningBase, entity=Enrollment, tablename="learning_enrollments"): ...


class VideoProgressRow(LearningBase, entity=VideoProgress, tablename="learning_video_progress"):
    __table_args__ = (Index("ix_learning_video_progress_completed", "completed", "user_id"),)


class ReviewRow(LearningBase, entity=Review, tablename="learning_reviews"): ...


class QuizAttemptRow(LearningBase, entity=QuizAttempt, tablename="learning_quiz_attempts"):
    __table_args__ = (Index("ix_learning_quiz_attempts_quiz_user", "quiz_id", "user_id"),)


class TutorChatRow(LearningBase, entity=TutorChat, tablename="learning_tutor_chats"): ...


class ChatMessageRow(LearningBase, entity=ChatMessage, tablename="learning_chat_messages"): ...


class Reviews(Repository[Review, ReviewRow]):
    filterable = ("rating",)
    sortable = ("created_at", "rating")


# --- use cases ------------------------------------------------------------------------------


def tutor(p: Actor) -> bool:
    return p is not None and "tutor" in p.scopes


class EnrollmentService(Service[Enrollment, Actor]):
    scope = OwnedBy("user_id")
    publishes = {"create": StudentEnrolled, "delete": StudentUnenrolled}

    async def before_create(self, uow: UnitOfWork, entity: Enrollment) -> Enrollment:
        offered = await course.Courses(uow).get(entity.course_id)
        if offered.status is not course.CourseStatus.PUBLISHED:
            raise Conflict("only a published course is open for enrollment")
        return entity


ENROLLED = Within("course_id", EnrollmentService, key="course_id")  # the caller's courses


class EnrolledVideos(Service[course.Video, Actor]):
    repository = course.Videos
    scope = ENROLLED


class Progress(BaseModel, from_attributes=True):
    video_id: UUID
    watched_s: int
    completed: bool


class CourseProgress(BaseModel):
    videos: list[Progress]
    completed_share: float


class ProgressService(Service[VideoProgress, Actor]):  # PUT /videos/{id}/progress: mine
    scope = OwnedBy("user_id")
    write_scope = Within("video_id", EnrolledVideos)  # recorded in the caller's courses only

    async def of_course(self, course_id: UUID) -> CourseProgress:
        """The caller's progress through the videos of a course, and the share completed."""
        await course.CourseService(self.db, self.principal).get(course_id)  # 404 unless seen
        videos = await course.Videos(self.db).list(where("course_id") == course_id)  # in order
        watched = where("video_id").in_([v.id for v in videos])
        mine = {p.video_id: p for p in await (await self.scoped()).list(watched)}
        rows = [
            mine.get(v.id) or Progress(video_id=v.id, watched_s=0, completed=False) for v in videos
        ]
        share = sum(p.completed for p in rows) / len(rows) if rows else 0.0
        return CourseProgress(videos=rows, completed_share=share)


class ReviewService(Service[Review, Actor]):
    repository = Reviews
    scope = Within("course_id", course.CourseService)
    write_scope = ENROLLED
    owner_field = "user_id"
    publishes = {"create": ReviewPosted}


class AttemptService(Service[QuizAttempt, Actor]):
    scope = OwnedBy("user_id")

    async def before_create(self, uow: UnitOfWork, entity: QuizAttempt) -> QuizAttempt:
        quiz = await course.QuizService.repository(uow).get(entity.quiz_id)
        mine = where("user_id") == entity.user_id, where("course_id") == quiz.course_id
        if not await EnrollmentService.repository(uow).exists(*mine):
            raise PermissionDenied("enroll in the course first")
        if len(entity.answers) != len(quiz.questions):
            rule, wanted = "one_answer_per_question", f"give {len(quiz.questions)} answers"
            raise ConstraintViolated("QuizAttempt", rule, ["answers"], wanted)
        right = sum(a == q.answer for a, q in zip(entity.answers, quiz.questions, strict=True))
        score = round(100 * right / len(quiz.questions))
        attempt = {"quiz_id": quiz.id, "user_id": entity.user_id, "score": score}
        uow.publish(QuizAttempted(course_id=quiz.course_id, **attempt))
        return entity.evolve(score=score)


class ChatService(Service[TutorChat, Actor]):
    """Tutor chats: the caller's own; all of them for the tutor."""

    scope = Filtered(lambda p: [] if tutor(p) else [where("user_id").in_([p.user_id] if p else [])])
    write_scope = ENROLLED
    owner_field = "user_id"


class MessageService(Service[ChatMessage, Actor]):
    scope = Within("chat_id", ChatService)

    def new_entity(self, values: Mapping[str, Any]) -> ChatMessage:
        role = "assistant" if tutor(self.principal) else "user"
        return super().new_entity({**values, "role": role})


course_stats = Rollup(  # the course's rating and enrollment count, off the request path
    "course-stats",
    course.Courses,
    key="course_id",
    on=(StudentEnrolled, StudentUnenrolled, ReviewPosted),
    values={
        "rating": Average(Reviews, "rating"),
        "enrollment_count": Count(EnrollmentService.repository),
    },
)


# --- routes ---------------------------------------------------------------------------------


def learning_routers(resources: Resources) -> list[APIRouter]:
    """Enrollments, progress, reviews, attempts and chats, under the courses they are in."""
    nested, mine = {Route.LIST, Route.CREATE}, {Route.PUT_MINE}
    of_course = ResourceAction("progress", ProgressService.of_course, method="GET")
    return [
        resources.router(ProgressService, path="/videos/{video_id}/progress", routes=mine),
        resources.router(
            ProgressService, path="/courses", routes=(), actions=[of_course], name="course_progress"
        ),
        resources.router(
            EnrollmentService,
            path="/courses/{course_id}/enrollments",
            routes={Route.CREATE, Route.DELETE_MINE},
        ),
        resources.router(EnrollmentService, path="/users/me/enrollments", routes={Route.LIST}),
        resources.router(ReviewService, path="/courses/{course_id}/reviews", routes=nested),
        resources.router(AttemptService, path="/quizzes/{quiz_id}/attempts", routes=nested),
        resources.router(
            ChatService,
            path="/courses/{course_id}/chats",
            routes={Route.LIST, Route.GET, Route.CREATE},
        ),
        resources.router(MessageService, path="/chats/{chat_id}/messages", routes=nested),
    ]
