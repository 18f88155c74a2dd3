"""The chat tables: users, workspaces, conversations and everything they hold.

Revision ID: chat_0001
Revises:
Create Date: 2026-11-22 15:12:59.581840
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "chat_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("app",)
depends_on: str | Sequence[str] | None = "lamina"


def upgrade() -> None:

    op.create_table(
        "chat_users",
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_users")),
        sa.UniqueConstraint("email", name=op.f("uq_chat_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_chat_users_username")),
    )
    op.create_table(
        "chat_workspaces",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["chat_users.id"], name=op.f("fk_chat_workspaces_owner_id_chat_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_workspaces")),
    )
    with op.batch_alter_table("chat_workspaces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_workspaces_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "chat_conversations",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("modality", sa.String(length=10), nullable=False),
        sa.Column("meta_data", sa.JSON(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "modality IN ('text', 'voice')", name=op.f("ck_chat_conversations_modality_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["chat_workspaces.id"],
            name=op.f("fk_chat_conversations_workspace_id_chat_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
        sa.UniqueConstraint(
            "workspace_id", "slug", name=op.f("uq_chat_conversations_workspace_id_slug")
        ),
    )
    with op.batch_alter_table("chat_conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_conversations_workspace_activity",
            ["workspace_id", "last_activity_at"],
            unique=False,
        )

    op.create_table(
        "chat_memberships",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'member')", name=op.f("ck_chat_memberships_role_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["chat_users.id"], name=op.f("fk_chat_memberships_user_id_chat_users")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["chat_workspaces.id"],
            name=op.f("fk_chat_memberships_workspace_id_chat_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_memberships")),
        sa.UniqueConstraint(
            "user_id", "workspace_id", name=op.f("uq_chat_memberships_user_id_workspace_id")
        ),
    )
    with op.batch_alter_table("chat_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_memberships_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "chat_messages",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('user', 'assistant', 'system')", name=op.f("ck_chat_messages_role_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_messages_conversation_id_chat_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["chat_users.id"], name=op.f("fk_chat_messages_sender_id_chat_users")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["chat_workspaces.id"],
            name=op.f("fk_chat_messages_workspace_id_chat_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chat_messages_conversation_created",
            ["conversation_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "chat_participants",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("invited_by_id", sa.Uuid(), nullable=True),
        sa.Column("initial_message", sa.Text(), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('invited', 'active', 'rejected', 'left')",
            name=op.f("ck_chat_participants_status_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_participants_conversation_id_chat_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["chat_users.id"],
            name=op.f("fk_chat_participants_invited_by_id_chat_users"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["chat_users.id"], name=op.f("fk_chat_participants_user_id_chat_users")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["chat_workspaces.id"],
            name=op.f("fk_chat_participants_workspace_id_chat_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_participants")),
        sa.UniqueConstraint(
            "user_id", "conversation_id", name=op.f("uq_chat_participants_user_id_conversation_id")
        ),
    )
    with op.batch_alter_table("chat_participants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_participants_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_chat_participants_user_id"), ["user_id"], unique=False)

    op.create_table(
        "chat_recordings",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("started_by_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("meta_data", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('recording', 'completed', 'failed')",
            name=op.f("ck_chat_recordings_status_allowed"),
        ),
        sa.CheckConstraint(
            "duration_ms IS NULL OR duration_ms >= 0",
            name=op.f("ck_chat_recordings_duration_not_negative"),
        ),
        sa.CheckConstraint(
            "sample_rate BETWEEN 8000 AND 192000", name=op.f("ck_chat_recordings_sample_rate_range")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_recordings_conversation_id_chat_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["started_by_id"],
            ["chat_users.id"],
            name=op.f("fk_chat_recordings_started_by_id_chat_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["chat_workspaces.id"],
            name=op.f("fk_chat_recordings_workspace_id_chat_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_recordings")),
    )
    with op.batch_alter_table("chat_recordings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_recordings_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            "uq_chat_recordings_one_in_progress",
            ["conversation_id"],
            unique=True,
            sqlite_where=sa.text("status = 'recording'"),
            postgresql_where=sa.text("status = 'recording'"),
        )


def downgrade() -> None:

    with op.batch_alter_table("chat_recordings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_chat_recordings_one_in_progress",
            sqlite_where=sa.text("status = 'recording'"),
            postgresql_where=sa.text("status = 'recording'"),
        )
        batch_op.drop_index(batch_op.f("ix_chat_recordings_conversation_id"))

    op.drop_table("chat_recordings")
    with op.batch_alter_table("chat_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_participants_user_id"))
        batch_op.drop_index(batch_op.f("ix_chat_participants_conversation_id"))

    op.drop_table("chat_participants")
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_messages_conversation_created")

    op.drop_table("chat_messages")
    with op.batch_alter_table("chat_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_memberships_workspace_id"))

    op.drop_table("chat_memberships")
    with op.batch_alter_table("chat_conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_conversations_workspace_activity")

    op.drop_table("chat_conversations")
    with op.batch_alter_table("chat_workspaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_workspaces_owner_id"))

    op.drop_table("chat_workspaces")
    op.drop_table("chat_users")
