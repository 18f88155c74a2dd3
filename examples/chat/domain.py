"""Chat entities and domain events: pure Pydantic, no SQLAlchemy, no FastAPI."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints

from lamina.domain import (
    READ_ONLY,
    SENSITIVE,
    ActorTracked,
    DomainEvent,
    EmailAddress,
    Entity,
    EventPriority,
    MessageText,
    Name,
    Slug,
    SoftDeletable,
    Timestamped,
    Title,
    Versioned,
)

MAX_METADATA_BYTES = 8192


def _bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":"))) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must serialize to at most {MAX_METADATA_BYTES} bytes")
    return value


Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_json),
    Field(description="Any JSON object of at most 8 KiB; no text in it may contain NUL."),
]
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{3,32}$")]


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Modality(enum.StrEnum):
    TEXT = "text"
    VOICE = "voice"


class ParticipantStatus(enum.StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    REJECTED = "rejected"
    LEFT = "left"


class MessageRole(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class RecordingStatus(enum.StrEnum):
    RECORDING = "recording"
    COMPLETED = "completed"
    FAILED = "failed"


class User(Entity, Timestamped, Versioned):
    username: Annotated[Username, READ_ONLY]
    email: Annotated[EmailAddress, AfterValidator(str.lower)]  # unique whatever the case
    display_name: Name
    password_hash: Annotated[str, SENSITIVE]


class Workspace(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    owner_id: Annotated[UUID, READ_ONLY]


class Membership(Entity, Timestamped, Versioned, ActorTracked):
    workspace_id: Annotated[UUID, READ_ONLY]
    user_id: UUID
    role: Role = Role.MEMBER


class Conversation(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    workspace_id: Annotated[UUID, READ_ONLY]
    title: Title
    slug: Slug
    modality: Modality = Modality.TEXT
    metadata: Metadata = Field(default_factory=dict)
    last_activity_at: Annotated[datetime | None, READ_ONLY] = None


class Participant(Entity, Timestamped, Versioned, ActorTracked):
    conversation_id: Annotated[UUID, READ_ONLY]
    workspace_id: Annotated[UUID, READ_ONLY]
    user_id: UUID
    status: ParticipantStatus = ParticipantStatus.INVITED
    invited_by_id: Annotated[UUID | None, READ_ONLY] = None
    initial_message: Annotated[str, StringConstraints(max_length=2000)] | None = None
    joined_at: Annotated[datetime | None, READ_ONLY] = None


class Message(Entity, Timestamped, SoftDeletable, Versioned, ActorTracked):
    conversation_id: Annotated[UUID, READ_ONLY]
    workspace_id: Annotated[UUID, READ_ONLY]
    sender_id: Annotated[UUID, READ_ONLY]
    role: MessageRole = MessageRole.USER
    content: MessageText


class Recording(Entity, Timestamped, Versioned, ActorTracked):
    conversation_id: Annotated[UUID, READ_ONLY]
    workspace_id: Annotated[UUID, READ_ONLY]
    started_by_id: Annotated[UUID, READ_ONLY]
    status: RecordingStatus = RecordingStatus.RECORDING
    format: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{2,10}$")] = "wav"
    sample_rate: Annotated[int, Field(ge=8000, le=192_000)] = 16_000
    started_at: datetime
    ended_at: datetime | None = None
    duration_ms: Annotated[int, Field(ge=0)] | None = None
    size_bytes: Annotated[int, Field(ge=0)] | None = None
    metadata: Metadata = Field(default_factory=dict)


# --- events: every one names its workspace, and its conversation when it has one ---------------


class ChatEvent(DomainEvent):
    """Base of chat events: ``workspace_id`` (and ``conversation_id``) decide who may see them."""

    workspace_id: UUID
    conversation_id: UUID | None = None


class WorkspaceCreated(ChatEvent, type="workspace.created", stream="workspace_id"):
    name: str
    owner_id: UUID


class WorkspaceUpdated(ChatEvent, type="workspace.updated", stream="workspace_id"):
    changes: list[str]


class WorkspaceDeleted(ChatEvent, type="workspace.deleted", stream="workspace_id"):
    pass


class MemberAdded(ChatEvent, type="member.added", stream="workspace_id"):
    user_id: UUID
    role: Role


class MemberRemoved(ChatEvent, type="member.removed", stream="workspace_id"):
    user_id: UUID


class ConversationCreated(ChatEvent, type="conversation.created", stream="conversation_id"):
    title: str
    modality: Modality
    created_by_id: UUID


class ConversationUpdated(ChatEvent, type="conversation.updated", stream="conversation_id"):
    changes: list[str]


class ConversationDeleted(ChatEvent, type="conversation.deleted", stream="conversation_id"):
    pass


class ConversationRestored(ChatEvent, type="conversation.restored", stream="conversation_id"):
    pass


class ParticipantInvited(ChatEvent, type="participant.invited", stream="conversation_id"):
    user_id: UUID
    invited_by_id: UUID
    initial_message: str | None = None


class ParticipantJoined(ChatEvent, type="participant.accepted", stream="conversation_id"):
    user_id: UUID


class ParticipantRejected(ChatEvent, type="participant.rejected", stream="conversation_id"):
    user_id: UUID


class ParticipantLeft(ChatEvent, type="participant.left", stream="conversation_id"):
    user_id: UUID


class MessagePosted(ChatEvent, type="message.posted", stream="conversation_id"):
    message_id: UUID
    sender_id: UUID
    role: MessageRole
    content: str


class MessageDeleted(ChatEvent, type="message.deleted", stream="conversation_id"):
    message_id: UUID


class RecordingStarted(
    ChatEvent, type="recording.started", stream="conversation_id", priority=EventPriority.HIGH
):
    recording_id: UUID
    started_by_id: UUID
    format: str
    sample_rate: int


class RecordingEnded(
    ChatEvent, type="recording.ended", stream="conversation_id", priority=EventPriority.HIGH
):
    recording_id: UUID
    status: RecordingStatus
    duration_ms: int | None
    size_bytes: int | None
