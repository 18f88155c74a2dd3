"""Enrollments: one index on their course (the reference's); their live-unique one renamed.

The live-unique (user, course) is named as ``Unique("user_id")`` on ``course_id`` names it.

Revision ID: learning_0004
Revises: learning_0003
Create Date: 2026-12-05 06:42:56.544494
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "learning_0004"
down_revision: str | Sequence[str] | None = "learning_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("deleted_at IS NULL")


def _live_unique(batch_op: Any, name: str) -> None:
    batch_op.create_index(
        name, ["user_id", "course_id"], unique=True, sqlite_where=LIVE, postgresql_where=LIVE
    )


def upgrade() -> None:
    with op.batch_alter_table("learning_enrollments", schema=None) as batch_op:
        batch_op.drop_index("ix_learning_enrollments_course")
        batch_op.drop_index("uq_learning_enrollments_live")
        _live_unique(batch_op, "uq_learning_enrollments_live_course_id")


def downgrade() -> None:
    with op.batch_alter_table("learning_enrollments", schema=None) as batch_op:
        batch_op.drop_index("uq_learning_enrollments_live_course_id")
        _live_unique(batch_op, "uq_learning_enrollments_live")
        batch_op.create_index(
            "ix_learning_enrollments_course", ["course_id", "deleted_at"], unique=False
        )
