"""Chat repositories: which fields each entity can be filtered and sorted by."""

from __future__ import annotations

from examples.chat.domain import (
    Conversation,
    Membership,
    Message,
    Participant,
    Recording,
    User,
    Workspace,
)
from examples.chat.rows import (
    ConversationRow,
    MembershipRow,
    MessageRow,
    ParticipantRow,
    RecordingRow,
    UserRow,
    WorkspaceRow,
)
from lamina.persistence import Repository, where


class Users(Repository[User, UserRow]):
    filterable = ("username", "email")

    async def by_username(self, username: str) -> User | None:
        """The user called ``username`` (usernames are lower case), or None."""
        found = await self.list(where("username") == username.strip().lower(), limit=1)
        return found[0] if found else None


class Workspaces(Repository[Workspace, WorkspaceRow]):
    filterable = ("id", "name")
    sortable = ("created_at", "name")
    default_order = ("-created_at",)


class Memberships(Repository[Membership, MembershipRow]):
    filterable = ("workspace_id", "user_id", "role")
    sortable = ("created_at",)
    default_order = ("created_at",)


class Conversations(Repository[Conversation, ConversationRow]):
    renames = {"metadata": "meta_data"}
    filterable = {
        "workspace_id": ["eq", "in"],
        "modality": ["eq"],
        "title": ["icontains", "eq"],
        "slug": ["eq"],
    }
    sortable = ("created_at", "last_activity_at", "title")
    default_order = ("-last_activity_at",)
    touchable = ("last_activity_at",)  # moved by each message's event (see activity.py)


class Participants(Repository[Participant, ParticipantRow]):
    filterable = ("conversation_id", "user_id", "status", "workspace_id")
    sortable = ("created_at",)
    default_order = ("created_at",)


class Messages(Repository[Message, MessageRow]):
    filterable = ("conversation_id", "sender_id", "role")
    sortable = ("created_at",)
    default_order = ("created_at",)


class Recordings(Repository[Recording, RecordingRow]):
    renames = {"metadata": "meta_data"}
    filterable = ("conversation_id", "status")
    sortable = ("started_at", "created_at")
    default_order = ("-started_at",)
