"""Enrollments keep one index on their course: the reference's (the live one repeated it).

Revision ID: learning_0004
Revises: learning_0003
Create Date: 2026-12-05 06:42:56.544494
"""

from collections.abc import Sequence

from alembic import op

revision: str = "learning_0004"
down_revision: str | Sequence[str] | None = "learning_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("learning_enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_learning_enrollments_course")


def downgrade() -> None:
    with op.batch_alter_table("learning_enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_learning_enrollments_course", ["course_id", "deleted_at"], unique=False
        )
