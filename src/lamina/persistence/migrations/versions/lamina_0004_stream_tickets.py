"""Single-use stream tickets (browsers open live streams with them).

Revision ID: lamina_0004
Revises: lamina_0003
Create Date: 2026-12-04 15:25:05.634425
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lamina_0004"
down_revision: str | Sequence[str] | None = "lamina_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lamina_stream_tickets",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("ticket_hash", name=op.f("pk_lamina_stream_tickets")),
    )
    with op.batch_alter_table("lamina_stream_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lamina_stream_tickets_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lamina_stream_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lamina_stream_tickets_expires_at"), if_exists=True)

    op.drop_table("lamina_stream_tickets")
