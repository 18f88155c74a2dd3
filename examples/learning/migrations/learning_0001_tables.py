"""The e-learning tables: users, courses, videos, quizzes, enrollments, progress, reviews,
attempts and tutor chats, with the seed's constraints and indexes.

Revision ID: learning_0001
Revises:
Create Date: 2026-12-04 15:24:59.784095
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "learning_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("app",)
depends_on: str | Sequence[str] | None = "lamina"


def upgrade() -> None:
    op.create_table(
        "learning_users",
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_users")),
        sa.UniqueConstraint("email", name=op.f("uq_learning_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_learning_users_username")),
    )
    op.create_table(
        "learning_courses",
        sa.Column("instructor_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("description", sa.String(length=5000), nullable=False),
        sa.Column("difficulty", sa.String(length=12), nullable=False),
        sa.Column("price_amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("price_currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("rating", sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column("enrollment_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "difficulty IN ('beginner', 'intermediate', 'advanced')",
            name=op.f("ck_learning_courses_difficulty_allowed"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'archived')",
            name=op.f("ck_learning_courses_status_allowed"),
        ),
        sa.CheckConstraint(
            "enrollment_count >= 0", name=op.f("ck_learning_courses_enrollment_count_range")
        ),
        sa.CheckConstraint(
            "price_amount >= 0", name=op.f("ck_learning_courses_price_amount_range")
        ),
        sa.CheckConstraint(
            "rating >= 0 AND rating <= 5", name=op.f("ck_learning_courses_rating_range")
        ),
        sa.ForeignKeyConstraint(
            ["instructor_id"],
            ["learning_users.id"],
            name=op.f("fk_learning_courses_instructor_id_learning_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_courses")),
    )
    with op.batch_alter_table("learning_courses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_learning_courses_created_at",
            [sa.literal_column("created_at DESC"), sa.literal_column("id DESC"), "deleted_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_learning_courses_enrollments",
            [
                sa.literal_column("enrollment_count DESC"),
                sa.literal_column("id DESC"),
                "deleted_at",
            ],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_learning_courses_instructor_id"), ["instructor_id"], unique=False
        )
        batch_op.create_index(
            "ix_learning_courses_rating",
            [sa.literal_column("rating DESC"), sa.literal_column("id DESC"), "deleted_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_learning_courses_live_slug",
            ["slug"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "learning_enrollments",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_courses.id"],
            name=op.f("fk_learning_enrollments_course_id_learning_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["learning_users.id"],
            name=op.f("fk_learning_enrollments_user_id_learning_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_enrollments")),
    )
    with op.batch_alter_table("learning_enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_learning_enrollments_course", ["course_id", "deleted_at"], unique=False
        )
        batch_op.create_index(
            "uq_learning_enrollments_live",
            ["user_id", "course_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "learning_quizzes",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_courses.id"],
            name=op.f("fk_learning_quizzes_course_id_learning_courses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_quizzes")),
    )
    with op.batch_alter_table("learning_quizzes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_quizzes_course_id"), ["course_id"], unique=False
        )

    op.create_table(
        "learning_reviews",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=5000), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "rating >= 1 AND rating <= 5", name=op.f("ck_learning_reviews_rating_range")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_courses.id"],
            name=op.f("fk_learning_reviews_course_id_learning_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["learning_users.id"],
            name=op.f("fk_learning_reviews_user_id_learning_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_reviews")),
        sa.UniqueConstraint(
            "user_id", "course_id", name=op.f("uq_learning_reviews_user_id_course_id")
        ),
    )
    with op.batch_alter_table("learning_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_reviews_course_id"), ["course_id"], unique=False
        )

    op.create_table(
        "learning_tutor_chats",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_courses.id"],
            name=op.f("fk_learning_tutor_chats_course_id_learning_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["learning_users.id"],
            name=op.f("fk_learning_tutor_chats_user_id_learning_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_tutor_chats")),
    )
    with op.batch_alter_table("learning_tutor_chats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_tutor_chats_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_tutor_chats_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "learning_videos",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("duration_s > 0", name=op.f("ck_learning_videos_duration_s_range")),
        sa.CheckConstraint("position >= 1", name=op.f("ck_learning_videos_position_range")),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_courses.id"],
            name=op.f("fk_learning_videos_course_id_learning_courses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_videos")),
    )
    with op.batch_alter_table("learning_videos", schema=None) as batch_op:
        batch_op.create_index(
            "uq_learning_videos_live_position",
            ["course_id", "position"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "learning_chat_messages",
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=9), nullable=False),
        sa.Column("content", sa.String(length=10000), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "role IN ('user', 'assistant')", name=op.f("ck_learning_chat_messages_role_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["learning_tutor_chats.id"],
            name=op.f("fk_learning_chat_messages_chat_id_learning_tutor_chats"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_chat_messages")),
    )
    with op.batch_alter_table("learning_chat_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learning_chat_messages_chat_id"), ["chat_id"], unique=False
        )

    op.create_table(
        "learning_quiz_attempts",
        sa.Column("quiz_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "score >= 0 AND score <= 100", name=op.f("ck_learning_quiz_attempts_score_range")
        ),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["learning_quizzes.id"],
            name=op.f("fk_learning_quiz_attempts_quiz_id_learning_quizzes"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["learning_users.id"],
            name=op.f("fk_learning_quiz_attempts_user_id_learning_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_quiz_attempts")),
    )
    with op.batch_alter_table("learning_quiz_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_learning_quiz_attempts_quiz_user", ["quiz_id", "user_id"], unique=False
        )

    op.create_table(
        "learning_video_progress",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("watched_s", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "watched_s >= 0", name=op.f("ck_learning_video_progress_watched_s_range")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["learning_courses.id"],
            name=op.f("fk_learning_video_progress_course_id_learning_courses"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["learning_users.id"],
            name=op.f("fk_learning_video_progress_user_id_learning_users"),
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["learning_videos.id"],
            name=op.f("fk_learning_video_progress_video_id_learning_videos"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_video_progress")),
        sa.UniqueConstraint(
            "user_id", "video_id", name=op.f("uq_learning_video_progress_user_id_video_id")
        ),
    )
    with op.batch_alter_table("learning_video_progress", schema=None) as batch_op:
        batch_op.create_index(
            "ix_learning_video_progress_completed", ["completed", "user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_learning_video_progress_course_id"), ["course_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("learning_video_progress", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_video_progress_course_id"), if_exists=True)
        batch_op.drop_index("ix_learning_video_progress_completed", if_exists=True)

    op.drop_table("learning_video_progress")
    with op.batch_alter_table("learning_quiz_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_learning_quiz_attempts_quiz_user", if_exists=True)

    op.drop_table("learning_quiz_attempts")
    with op.batch_alter_table("learning_chat_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_chat_messages_chat_id"), if_exists=True)

    op.drop_table("learning_chat_messages")
    with op.batch_alter_table("learning_videos", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_learning_videos_live_position",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
            if_exists=True,
        )

    op.drop_table("learning_videos")
    with op.batch_alter_table("learning_tutor_chats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_tutor_chats_user_id"), if_exists=True)
        batch_op.drop_index(batch_op.f("ix_learning_tutor_chats_course_id"), if_exists=True)

    op.drop_table("learning_tutor_chats")
    with op.batch_alter_table("learning_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_reviews_course_id"), if_exists=True)

    op.drop_table("learning_reviews")
    with op.batch_alter_table("learning_quizzes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learning_quizzes_course_id"), if_exists=True)

    op.drop_table("learning_quizzes")
    with op.batch_alter_table("learning_enrollments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_learning_enrollments_live",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
            if_exists=True,
        )
        batch_op.drop_index("ix_learning_enrollments_course", if_exists=True)

    op.drop_table("learning_enrollments")
    with op.batch_alter_table("learning_courses", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_learning_courses_live_slug",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
            if_exists=True,
        )
        batch_op.drop_index("ix_learning_courses_rating", if_exists=True)
        batch_op.drop_index(batch_op.f("ix_learning_courses_instructor_id"), if_exists=True)
        batch_op.drop_index("ix_learning_courses_enrollments", if_exists=True)
        batch_op.drop_index("ix_learning_courses_created_at", if_exists=True)

    op.drop_table("learning_courses")
    op.drop_table("learning_users")
