"""Progress is per video and user, without its course (the video's).

Revision ID: learning_0003
Revises: learning_0002
Create Date: 2026-12-05 06:36:36.043324
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "learning_0003"
down_revision: str | Sequence[str] | None = "learning_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "learning_video_progress"
FOREIGN_KEY = "fk_learning_video_progress_course_id_learning_courses"
INDEX = "ix_learning_video_progress_course_id"


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(INDEX)
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch_op.drop_column("course_id")


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(sa.Column("course_id", sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE learning_video_progress SET course_id = (SELECT v.course_id"
        " FROM learning_videos v WHERE v.id = learning_video_progress.video_id)"
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.alter_column("course_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_foreign_key(FOREIGN_KEY, "learning_courses", ["course_id"], ["id"])
        batch_op.create_index(INDEX, ["course_id"], unique=False)
