"""event subscriptions, dead letters and access tokens

Revision ID: lamina_0002
Revises: lamina_0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lamina_0002"
down_revision: str | Sequence[str] | None = "lamina_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lamina_access_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scopes", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_lamina_access_tokens")),
    )
    with op.batch_alter_table("lamina_access_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lamina_access_tokens_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lamina_access_tokens_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "lamina_dead_letters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription", sa.String(length=200), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redrive_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lamina_dead_letters")),
        sa.UniqueConstraint(
            "subscription", "position", name=op.f("uq_lamina_dead_letters_subscription_position")
        ),
    )
    op.create_table(
        "lamina_subscriptions",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_lamina_subscriptions")),
    )


def downgrade() -> None:
    op.drop_table("lamina_subscriptions")
    op.drop_table("lamina_dead_letters")
    with op.batch_alter_table("lamina_access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lamina_access_tokens_user_id"))
        batch_op.drop_index(batch_op.f("ix_lamina_access_tokens_expires_at"))

    op.drop_table("lamina_access_tokens")
