"""Tables of the e-learning service: lamina's standard columns, the seed's constraints and
indexes (rating, enrollment_count and created_at descending; progress by completion)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy import desc as d
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from examples.learning.domain import CourseStatus, Difficulty, Role
from lamina.persistence import (
    Base,
    JSONValue,
    SoftDeleteColumn,
    StandardColumns,
    live_index,
    live_unique,
    new_metadata,
    one_of,
)


class LearningBase(DeclarativeBase, StandardColumns):
    """Declarative base of the service (its own metadata and revision history)."""

    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class UserRow(LearningBase):
    __tablename__ = "learning_users"
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(String(200))


def course_ref() -> Mapped[UUID]:
    return mapped_column(ForeignKey("learning_courses.id"), index=True)


def user_ref() -> Mapped[UUID]:
    return mapped_column(ForeignKey("learning_users.id"), index=True)


class CourseRow(LearningBase, SoftDeleteColumn):
    __tablename__ = "learning_courses"
    __table_args__ = (
        live_unique("uq_learning_courses_live_slug", "slug"),
        one_of("difficulty", Difficulty),
        one_of("status", CourseStatus),
        CheckConstraint("price_amount >= 0", name="price_amount_not_negative"),
        CheckConstraint("rating >= 0 AND rating <= 5", name="rating_range"),
        CheckConstraint("enrollment_count >= 0", name="enrollment_count_not_negative"),
        live_index("ix_learning_courses_rating", d("rating"), d("id")),
        live_index("ix_learning_courses_enrollments", d("enrollment_count"), d("id")),
        live_index("ix_learning_courses_created_at", d("created_at"), d("id")),
    )
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text)
    difficulty: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(10))
    price_amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    price_currency: Mapped[str] = mapped_column(String(3))
    rating: Mapped[Decimal] = mapped_column(Numeric(3, 2))
    enrollment_count: Mapped[int]
    instructor_id: Mapped[UUID] = user_ref()


class VideoRow(LearningBase, SoftDeleteColumn):
    __tablename__ = "learning_videos"
    __table_args__ = (
        live_unique("uq_learning_videos_live_position", "course_id", "position"),
        CheckConstraint("duration_s > 0", name="duration_s_positive"),
        CheckConstraint("position >= 1", name="position_positive"),
    )
    course_id: Mapped[UUID] = mapped_column(ForeignKey("learning_courses.id"))
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]
    duration_s: Mapped[int]
    url: Mapped[str] = mapped_column(String(2000))


class QuizRow(LearningBase):
    __tablename__ = "learning_quizzes"
    course_id: Mapped[UUID] = course_ref()
    title: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list[Any]] = mapped_column(JSONValue())


class EnrollmentRow(LearningBase, SoftDeleteColumn):
    __tablename__ = "learning_enrollments"
    __table_args__ = (
        live_unique("uq_learning_enrollments_live", "user_id", "course_id"),
        live_index("ix_learning_enrollments_course", "course_id"),
    )
    course_id: Mapped[UUID] = mapped_column(ForeignKey("learning_courses.id"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("learning_users.id"))


class VideoProgressRow(LearningBase):
    __tablename__ = "learning_video_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "video_id"),
        Index("ix_learning_video_progress_completed", "completed", "user_id"),
        CheckConstraint("watched_s >= 0", name="watched_s_not_negative"),
    )
    video_id: Mapped[UUID] = mapped_column(ForeignKey("learning_videos.id"))
    course_id: Mapped[UUID] = course_ref()
    user_id: Mapped[UUID] = mapped_column(ForeignKey("learning_users.id"))
    watched_s: Mapped[int]
    completed: Mapped[bool]


class ReviewRow(LearningBase):
    __tablename__ = "learning_reviews"
    __table_args__ = (
        UniqueConstraint("user_id", "course_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )
    course_id: Mapped[UUID] = course_ref()
    user_id: Mapped[UUID] = mapped_column(ForeignKey("learning_users.id"))
    rating: Mapped[int]
    comment: Mapped[str] = mapped_column(Text)


class QuizAttemptRow(LearningBase):
    __tablename__ = "learning_quiz_attempts"
    __table_args__ = (
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        Index("ix_learning_quiz_attempts_quiz_user", "quiz_id", "user_id"),
    )
    quiz_id: Mapped[UUID] = mapped_column(ForeignKey("learning_quizzes.id"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("learning_users.id"))
    answers: Mapped[list[Any]]
    score: Mapped[int]


class TutorChatRow(LearningBase):
    __tablename__ = "learning_tutor_chats"
    course_id: Mapped[UUID] = course_ref()
    user_id: Mapped[UUID] = user_ref()


class ChatMessageRow(LearningBase):
    __tablename__ = "learning_chat_messages"
    __table_args__ = (one_of("role", Role), Index("ix_learning_chat_messages_chat", "chat_id"))
    chat_id: Mapped[UUID] = mapped_column(ForeignKey("learning_tutor_chats.id"))
    role: Mapped[str] = mapped_column(String(10))
    content: Mapped[str] = mapped_column(Text)
