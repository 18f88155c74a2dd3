"""projects and tasks

Written by `lamina db revision --autogenerate -m "projects and tasks"`, then tidied.

Revision ID: app_0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "app_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("app",)
depends_on: str | Sequence[str] | None = "lamina"


def upgrade() -> None:
    op.create_table(
        "mig_projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mig_projects")),
        sa.UniqueConstraint("workspace", "name", name=op.f("uq_mig_projects_workspace_name")),
    )
    with op.batch_alter_table("mig_projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mig_projects_deleted_at"), ["deleted_at"], unique=False
        )

    op.create_table(
        "mig_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Enum("LOW", "HIGH", name="mig_task_priority"), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("rating >= 0 AND rating <= 5", name=op.f("ck_mig_tasks_rating_range")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["mig_projects.id"],
            name=op.f("fk_mig_tasks_project_id_mig_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mig_tasks")),
    )
    with op.batch_alter_table("mig_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mig_tasks_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mig_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mig_tasks_project_id"))

    op.drop_table("mig_tasks")
    sa.Enum(name="mig_task_priority").drop(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("mig_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mig_projects_deleted_at"))

    op.drop_table("mig_projects")
