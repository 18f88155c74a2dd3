"""The indexes that list conversations and messages end with deleted_at (live_index).

Listings hide soft-deleted rows; with ``deleted_at`` in the index that test is
answered from the index, so a page does not read the rows it passes over.

Revision ID: chat_0002
Revises: chat_0001
Create Date: 2026-11-22 23:05:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "chat_0002"
down_revision: str | Sequence[str] | None = "chat_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "chat_conversations": (
        "ix_chat_conversations_workspace_activity",
        ["workspace_id", "last_activity_at"],
    ),
    "chat_messages": (
        "ix_chat_messages_conversation_created",
        ["conversation_id", "created_at", "id"],
    ),
}


def upgrade() -> None:
    for table, (name, columns) in INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [*columns, "deleted_at"], unique=False)


def downgrade() -> None:
    for table, (name, columns) in INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False)
