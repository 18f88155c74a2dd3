"""Tables of the e-learning service: columns and CHECKs come from the entities' fields
(``EntityColumns``); here are what they cannot say: keys, references, the seed's indexes."""

from __future__ import annotations

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy import desc as d
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from examples.learning import domain as e
from lamina.persistence import (
    Base,
    EntityColumns,
    SoftDeleteColumn,
    StandardColumns,
    live_index,
    live_unique,
    new_metadata,
)


class LearningBase(EntityColumns, DeclarativeBase, StandardColumns):
    """Declarative base of the service (its own metadata and revision history)."""

    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class UserRow(LearningBase, entity=e.User):
    __tablename__ = "learning_users"
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))


class CourseRow(LearningBase, SoftDeleteColumn, entity=e.Course):
    __tablename__ = "learning_courses"
    __table_args__ = (
        live_unique("uq_learning_courses_live_slug", "slug"),
        live_index("ix_learning_courses_rating", d("rating"), d("id")),
        live_index("ix_learning_courses_enrollments", d("enrollment_count"), d("id")),
        live_index("ix_learning_courses_created_at", d("created_at"), d("id")),
    )


class VideoRow(LearningBase, SoftDeleteColumn, entity=e.Video):
    __tablename__ = "learning_videos"
    __table_args__ = (live_unique("uq_learning_videos_live_position", "course_id", "position"),)


class QuizRow(LearningBase, entity=e.Quiz):
    __tablename__ = "learning_quizzes"


class EnrollmentRow(LearningBase, SoftDeleteColumn, entity=e.Enrollment):
    __tablename__ = "learning_enrollments"
    __table_args__ = (
        live_unique("uq_learning_enrollments_live", "user_id", "course_id"),
        live_index("ix_learning_enrollments_course", "course_id"),
    )


class VideoProgressRow(LearningBase, entity=e.VideoProgress):
    __tablename__ = "learning_video_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "video_id"),
        Index("ix_learning_video_progress_completed", "completed", "user_id"),
    )


class ReviewRow(LearningBase, entity=e.Review):
    __tablename__ = "learning_reviews"
    __table_args__ = (UniqueConstraint("user_id", "course_id"),)


class QuizAttemptRow(LearningBase, entity=e.QuizAttempt):
    __tablename__ = "learning_quiz_attempts"
    __table_args__ = (Index("ix_learning_quiz_attempts_quiz_user", "quiz_id", "user_id"),)


class TutorChatRow(LearningBase, entity=e.TutorChat):
    __tablename__ = "learning_tutor_chats"


class ChatMessageRow(LearningBase, entity=e.ChatMessage):
    __tablename__ = "learning_chat_messages"
