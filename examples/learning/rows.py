"""Tables: columns, CHECKs, foreign keys and the standard columns come from the entities
(``EntityColumns``); here are what they cannot say: names, uniqueness, the seed's indexes."""

from __future__ import annotations

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy import desc as d
from sqlalchemy.orm import DeclarativeBase

from examples.learning import domain as e
from lamina.persistence import Base, EntityColumns, live_index, live_unique, new_metadata


class LearningBase(EntityColumns, DeclarativeBase):
    """Declarative base of the service (its own metadata and revision history)."""

    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class UserRow(LearningBase, entity=e.User, tablename="learning_users"):
    __table_args__ = (UniqueConstraint("username"), UniqueConstraint("email"))


class CourseRow(LearningBase, entity=e.Course, tablename="learning_courses"):
    __table_args__ = (
        live_unique("uq_learning_courses_live_slug", "slug"),
        live_index("ix_learning_courses_rating", d("rating"), d("id")),
        live_index("ix_learning_courses_enrollments", d("enrollment_count"), d("id")),
        live_index("ix_learning_courses_created_at", d("created_at"), d("id")),
    )


class VideoRow(LearningBase, entity=e.Video, tablename="learning_videos"):
    __table_args__ = (live_unique("uq_learning_videos_live_position", "course_id", "position"),)


class QuizRow(LearningBase, entity=e.Quiz, tablename="learning_quizzes"): ...


class EnrollmentRow(LearningBase, entity=e.Enrollment, tablename="learning_enrollments"):
    __table_args__ = (
        live_unique("uq_learning_enrollments_live", "user_id", "course_id"),
        live_index("ix_learning_enrollments_course", "course_id"),
    )


class VideoProgressRow(LearningBase, entity=e.VideoProgress, tablename="learning_video_progress"):
    __table_args__ = (
        UniqueConstraint("user_id", "video_id"),
        Index("ix_learning_video_progress_completed", "completed", "user_id"),
    )


class ReviewRow(LearningBase, entity=e.Review, tablename="learning_reviews"):
    __table_args__ = (UniqueConstraint("user_id", "course_id"),)


class QuizAttemptRow(LearningBase, entity=e.QuizAttempt, tablename="learning_quiz_attempts"):
    __table_args__ = (Index("ix_learning_quiz_attempts_quiz_user", "quiz_id", "user_id"),)


class TutorChatRow(LearningBase, entity=e.TutorChat, tablename="learning_tutor_chats"): ...


class ChatMessageRow(LearningBase, entity=e.ChatMessage, tablename="learning_chat_messages"): ...
