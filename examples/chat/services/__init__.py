"""The chat use cases, one service per aggregate, on lamina's ``Service``.

Each service runs for one actor (the authenticated user) and sees only what
the actor may see: its scope turns the actor's memberships and participations
into filters every repository query carries, so rows of other workspaces and
conversations are NotFound (404), never PermissionDenied. Every write is one
unit of work that also publishes the domain events describing it.
"""

from examples.chat.services.access import Actor
from examples.chat.services.conversations import ConversationService, JoinedConversationService
from examples.chat.services.messages import MessageService
from examples.chat.services.participants import ParticipantService
from examples.chat.services.recordings import RecordingService
from examples.chat.services.workspaces import Member, MemberService, WorkspaceService

__all__ = [
    "Actor",
    "ConversationService",
    "JoinedConversationService",
    "Member",
    "MemberService",
    "MessageService",
    "ParticipantService",
    "RecordingService",
    "WorkspaceService",
]
