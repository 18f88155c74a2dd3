"""rate limit counters shared by every worker

Revision ID: lamina_0003
Revises: lamina_0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lamina_0003"
down_revision: str | Sequence[str] | None = "lamina_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lamina_rate_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lamina_rate_events")),
    )
    with op.batch_alter_table("lamina_rate_events", schema=None) as batch_op:
        batch_op.create_index("ix_lamina_rate_events_key_at", ["key", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lamina_rate_events", schema=None) as batch_op:
        batch_op.drop_index("ix_lamina_rate_events_key_at")

    op.drop_table("lamina_rate_events")
