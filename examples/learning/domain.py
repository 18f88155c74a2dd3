"""Entities, value objects and events of the e-learning service: pure Pydantic.

The seed's three areas: the user, the course (videos, quizzes) and learning
(enrollments, progress, reviews, attempts, tutor chats).
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from lamina.domain import (
    EDITORS_ONLY,
    READ_ONLY,
    SENSITIVE,
    SERVER_OWNED,
    DomainEvent,
    EmailAddress,
    References,
    SoftDeletable,
    StandardEntity,
    ValueObject,
)

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]


class CourseStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


# --- user -----------------------------------------------------------------------------------


class User(StandardEntity):
    username: Annotated[
        str, READ_ONLY, StringConstraints(pattern=r"^[a-z0-9_]{3,32}$", max_length=32)
    ]
    email: EmailAddress
    display_name: Text
    password_hash: Annotated[str, SENSITIVE, StringConstraints(max_length=200)]
    scopes: Annotated[str, READ_ONLY] = ""  # "tutor" for the tutor bot


# --- course ---------------------------------------------------------------------------------


class Price(ValueObject):
    amount: Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$", max_length=3)] = "USD"


class Course(StandardEntity, SoftDeletable):
    title: Text
    slug: Slug
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    difficulty: Literal["beginner", "intermediate", "advanced"] = "beginner"
    price: Price = Price(amount=Decimal(0))
    status: Annotated[CourseStatus, READ_ONLY] = CourseStatus.DRAFT
    rating: Annotated[Decimal, SERVER_OWNED, Field(ge=0, le=5, max_digits=3, decimal_places=2)] = (
        Decimal(0)
    )
    enrollment_count: Annotated[int, SERVER_OWNED, Field(ge=0)] = 0
    instructor_id: Annotated[UUID, READ_ONLY, References(User)]


class Video(StandardEntity, SoftDeletable):
    course_id: Annotated[UUID, READ_ONLY, References(Course)]
    title: Text
    position: Annotated[int, Field(ge=1)]
    duration_s: Annotated[int, Field(gt=0)]
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2000)]


class Question(ValueObject):
    prompt: Text
    choices: Annotated[list[Text], Field(min_length=2, max_length=6)]
    answer: Annotated[int, Field(ge=0), EDITORS_ONLY]  # readers get None

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> Self:
        if self.answer >= len(self.choices):
            raise ValueError("answer must be the index of one of the choices")
        return self


class Quiz(StandardEntity):
    course_id: Annotated[UUID, READ_ONLY, References(Course)]
    title: Text
    questions: Annotated[list[Question], Field(min_length=1, max_length=50)]


# --- learning -------------------------------------------------------------------------------


class Enrollment(StandardEntity, SoftDeletable):
    course_id: Annotated[UUID, READ_ONLY, References(Course)]
    user_id: Annotated[UUID, READ_ONLY, References(User)]


class VideoProgress(StandardEntity):
    video_id: Annotated[UUID, READ_ONLY, References(Video)]
    course_id: Annotated[UUID, READ_ONLY, References(Course)]
    user_id: Annotated[UUID, READ_ONLY, References(User)]
    watched_s: Annotated[int, Field(ge=0)]
    completed: bool = False


class Review(StandardEntity):
    course_id: Annotated[UUID, READ_ONLY, References(Course)]
    user_id: Annotated[UUID, READ_ONLY, References(User)]
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=5000)] = ""


class QuizAttempt(StandardEntity):
    quiz_id: Annotated[UUID, READ_ONLY, References(Quiz)]
    user_id: Annotated[UUID, READ_ONLY, References(User)]
    answers: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=50)]
    score: Annotated[int, SERVER_OWNED, Field(ge=0, le=100)] = 0


class TutorChat(StandardEntity):
    course_id: Annotated[UUID, READ_ONLY, References(Course)]
    user_id: Annotated[UUID, READ_ONLY, References(User)]


class ChatMessage(StandardEntity):
    chat_id: Annotated[UUID, READ_ONLY, References(TutorChat)]
    role: Annotated[Literal["user", "assistant"], READ_ONLY] = "user"
    content: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


# --- events ---------------------------------------------------------------------------------


class CourseEvent(DomainEvent):
    course_id: UUID


class CoursePublished(CourseEvent, type="course.published", stream="course_id"):
    instructor_id: UUID


class CourseArchived(CourseEvent, type="course.archived", stream="course_id"):
    pass


class StudentEnrolled(CourseEvent, type="student.enrolled", stream="course_id"):
    user_id: UUID


class StudentUnenrolled(CourseEvent, type="student.unenrolled", stream="course_id"):
    user_id: UUID


class ReviewPosted(CourseEvent, type="review.posted", stream="course_id"):
    user_id: UUID
    rating: int


class QuizAttempted(CourseEvent, type="quiz.attempted", stream="course_id"):
    quiz_id: UUID
    user_id: UUID
    score: int
