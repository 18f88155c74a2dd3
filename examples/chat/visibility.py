"""Which events one user may see on the live stream, decided without touching the database.

A :class:`Viewer` is made once per stream from the user's memberships and
participations (:func:`load_viewer`), then kept up to date by the very events
it judges: ``member.added`` for this user adds a workspace, ``participant.left``
removes a conversation, and so on. Judging an event is therefore a few set
lookups, whatever the number of open streams.

The rules:

* an event of a workspace (no conversation) is seen by its members, from the
  time they joined (a resumed stream does not replay what came before);
* an event of a conversation is seen by the conversation's active participants,
  as long as they belong to its workspace;
* someone invited sees the events about their own participation only (the
  invitation, and their answer), until they accept;
* an event that changes whether the user belongs (added, removed, invited,
  left…) is seen if the user belongs before *or* after it, so a user learns of
  their own removal and of their own invitation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from examples.chat.domain import ParticipantStatus
from examples.chat.repositories import Memberships, Participants, Workspaces
from examples.chat.services.access import BELONGING
from lamina.events import EventStore, StoredEvent
from lamina.persistence import Database, where

_INVITED, _ACTIVE = ParticipantStatus.INVITED, ParticipantStatus.ACTIVE
_OWN_PARTICIPATION = frozenset(
    {"participant.invited", "participant.accepted", "participant.rejected", "participant.left"}
)


def _uuid(payload: dict[str, Any], key: str) -> UUID | None:
    value = payload.get(key)
    return UUID(value) if isinstance(value, str) else None


@dataclass
class Viewer:
    """One user's view of the chat: the workspaces and conversations they belong to."""

    user_id: UUID
    workspaces: set[UUID] = field(default_factory=set)
    """The live workspaces the user is a member of."""
    joined_at: dict[UUID, datetime] = field(default_factory=dict)
    """Workspace → when the user joined it; earlier events of it are not theirs to see."""
    conversations: dict[UUID, ParticipantStatus] = field(default_factory=dict)
    """Conversation → the user's status in it (invited or active only)."""

    def sees(self, event: StoredEvent) -> bool:
        """Whether the user may see ``event``; updates the view with what the event changes."""
        before = self._judge(event)
        changed = self._apply(event)
        return before or (changed and self._judge(event))

    def _judge(self, event: StoredEvent) -> bool:
        payload = event.payload
        workspace_id = _uuid(payload, "workspace_id")
        if workspace_id not in self.workspaces:
            return False
        joined = self.joined_at.get(workspace_id)
        if joined is not None and event.recorded_at < joined:
            return False
        conversation_id = _uuid(payload, "conversation_id")
        if conversation_id is None:
            return True
        status = self.conversations.get(conversation_id)
        if status is _ACTIVE:
            return True
        return (
            status is _INVITED
            and event.event_type in _OWN_PARTICIPATION
            and _uuid(payload, "user_id") == self.user_id
        )

    def _apply(self, event: StoredEvent) -> bool:
        """Apply what ``event`` changes for this user; True if it changed anything."""
        payload = event.payload
        kind = event.event_type
        me = self.user_id
        workspace_id = _uuid(payload, "workspace_id")
        conversation_id = _uuid(payload, "conversation_id")
        if workspace_id is None:
            return False
        joined = (kind == "workspace.created" and _uuid(payload, "owner_id") == me) or (
            kind == "member.added" and _uuid(payload, "user_id") == me
        )
        if joined:
            self.workspaces.add(workspace_id)
            self.joined_at[workspace_id] = event.recorded_at
        elif kind == "workspace.deleted" or (
            kind == "member.removed" and _uuid(payload, "user_id") == me
        ):
            known = workspace_id in self.workspaces
            self.workspaces.discard(workspace_id)
            return known
        elif conversation_id is not None:
            return self._apply_participation(kind, payload, conversation_id)
        else:
            return False
        return True

    def _apply_participation(self, kind: str, payload: dict[str, Any], conversation: UUID) -> bool:
        me = self.user_id
        if kind == "conversation.created" and _uuid(payload, "created_by_id") == me:
            self.conversations[conversation] = _ACTIVE
        elif kind in _OWN_PARTICIPATION and _uuid(payload, "user_id") == me:
            if kind == "participant.invited":
                self.conversations[conversation] = _INVITED
            elif kind == "participant.accepted":
                self.conversations[conversation] = _ACTIVE
            else:
                return self.conversations.pop(conversation, None) is not None
        else:
            return False
        return True


def may_see(viewer: Viewer, event: StoredEvent) -> bool:
    """The authorization predicate of the live stream (see :class:`Viewer`)."""
    return viewer.sees(event)


async def load_viewer(db: Database, user_id: UUID) -> tuple[Viewer, int]:
    """The user's view as of now, and the log position it reflects.

    The position is read first: every event up to it has committed before the
    memberships are read, so the view includes its effects; a stream starting
    after that position misses nothing.
    """
    position = await EventStore(db).last_position()
    memberships = await Memberships(db).list(where("user_id") == user_id)
    ids = [m.workspace_id for m in memberships]
    live = await Workspaces(db).get_many(ids) if ids else []
    participations = await Participants(db).list(
        where("user_id") == user_id, where("status").in_(BELONGING)
    )
    joined_at = {m.workspace_id: m.created_at for m in memberships}
    viewer = Viewer(
        user_id=user_id,
        workspaces={w.id for w in live},
        joined_at={w.id: joined_at[w.id] for w in live},
        conversations={p.conversation_id: p.status for p in participations},
    )
    return viewer, position
