"""Chat tables: SQLAlchemy rows with lamina's standard columns, constraints and relationships."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from examples.chat.domain import MessageRole, Modality, ParticipantStatus, RecordingStatus, Role
from lamina.persistence import (
    Base,
    SoftDeleteColumn,
    StandardColumns,
    live_index,
    new_metadata,
    one_of,
)


class ChatBase(DeclarativeBase):
    """Declarative base of the chat service (its own metadata and revision history)."""

    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class UserRow(ChatBase, StandardColumns):
    __tablename__ = "chat_users"

    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))


class WorkspaceRow(ChatBase, StandardColumns, SoftDeleteColumn):
    __tablename__ = "chat_workspaces"

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[UUID] = mapped_column(ForeignKey("chat_users.id"), index=True)


class MembershipRow(ChatBase, StandardColumns):
    __tablename__ = "chat_memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "workspace_id"),
        one_of("role", Role),
    )

    workspace_id: Mapped[UUID] = mapped_column(ForeignKey("chat_workspaces.id"), index=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("chat_users.id"))
    role: Mapped[str] = mapped_column(String(10))


class ConversationRow(ChatBase, StandardColumns, SoftDeleteColumn):
    __tablename__ = "chat_conversations"
    __table_args__ = (
        UniqueConstraint("workspace_id", "slug"),
        one_of("modality", Modality),
        live_index("ix_chat_conversations_workspace_activity", "workspace_id", "last_activity_at"),
    )

    workspace_id: Mapped[UUID] = mapped_column(ForeignKey("chat_workspaces.id"))
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80))
    modality: Mapped[str] = mapped_column(String(10))
    meta_data: Mapped[dict[str, Any]] = mapped_column("meta_data", default=dict)
    last_activity_at: Mapped[datetime | None]


class ParticipantRow(ChatBase, StandardColumns):
    __tablename__ = "chat_participants"
    __table_args__ = (
        UniqueConstraint("user_id", "conversation_id"),
        one_of("status", ParticipantStatus),
    )

    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("chat_conversations.id"), index=True)
    workspace_id: Mapped[UUID] = mapped_column(ForeignKey("chat_workspaces.id"))
    user_id: Mapped[UUID] = mapped_column(ForeignKey("chat_users.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    invited_by_id: Mapped[UUID | None] = mapped_column(ForeignKey("chat_users.id"))
    initial_message: Mapped[str | None] = mapped_column(Text)
    joined_at: Mapped[datetime | None]


class MessageRow(ChatBase, StandardColumns, SoftDeleteColumn):
    __tablename__ = "chat_messages"
    __table_args__ = (
        one_of("role", MessageRole),
        live_index("ix_chat_messages_conversation_created", "conversation_id", "created_at", "id"),
    )

    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("chat_conversations.id"))
    workspace_id: Mapped[UUID] = mapped_column(ForeignKey("chat_workspaces.id"))
    sender_id: Mapped[UUID] = mapped_column(ForeignKey("chat_users.id"))
    role: Mapped[str] = mapped_column(String(10))
    content: Mapped[str] = mapped_column(Text)


class RecordingRow(ChatBase, StandardColumns):
    __tablename__ = "chat_recordings"
    __table_args__ = (
        one_of("status", RecordingStatus),
        CheckConstraint("sample_rate BETWEEN 8000 AND 192000", name="sample_rate_range"),
        CheckConstraint("duration_ms IS NULL OR duration_ms >= 0", name="duration_not_negative"),
        # At most one recording in progress per conversation, however many start at once.
        Index(
            "uq_chat_recordings_one_in_progress",
            "conversation_id",
            unique=True,
            sqlite_where=text("status = 'recording'"),
            postgresql_where=text("status = 'recording'"),
        ),
    )

    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("chat_conversations.id"), index=True)
    workspace_id: Mapped[UUID] = mapped_column(ForeignKey("chat_workspaces.id"))
    started_by_id: Mapped[UUID] = mapped_column(ForeignKey("chat_users.id"))
    status: Mapped[str] = mapped_column(String(10))
    format: Mapped[str] = mapped_column(String(10))
    sample_rate: Mapped[int]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    meta_data: Mapped[dict[str, Any]] = mapped_column("meta_data", default=dict)
