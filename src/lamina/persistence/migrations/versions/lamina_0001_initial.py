"""lamina's initial tables: the audit log and the event store.

Revision ID: lamina_0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "lamina_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("lamina",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lamina_audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity_type", sa.String(length=100), nullable=False),
        sa.Column("entity_id", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("correlation_id", sa.String(length=100), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lamina_audit_log")),
    )
    op.create_index(
        "ix_lamina_audit_log_entity",
        "lamina_audit_log",
        ["entity_type", "entity_id", "id"],
        unique=False,
    )
    op.create_table(
        "lamina_events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("stream_id", sa.String(length=200), nullable=False),
        sa.Column("stream_version", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("schema_version", sa.SmallInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_lamina_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_lamina_events_event_id")),
        sa.UniqueConstraint(
            "stream_id",
            "stream_version",
            name=op.f("uq_lamina_events_stream_id_stream_version"),
        ),
    )


def downgrade() -> None:
    op.drop_table("lamina_events")
    op.drop_index("ix_lamina_audit_log_entity", table_name="lamina_audit_log")
    op.drop_table("lamina_audit_log")
