"""Conversations: created in a workspace, seen by their participants, soft-deleted and restored.

A conversation is visible to the users invited to it or taking part in it, as
long as they are members of its workspace; to anyone else it does not exist
(404). Its creator becomes an active participant in the same unit of work.
Active participants change it; its creator or a workspace owner/admin deletes
and restores it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from examples.chat.domain import (
    Conversation,
    ConversationCreated,
    ConversationDeleted,
    ConversationRestored,
    ConversationUpdated,
    Participant,
    ParticipantStatus,
)
from examples.chat.repositories import Conversations, Participants
from examples.chat.services.access import (
    MANAGERS,
    Actor,
    joined_conversations,
    member_workspaces,
    role_in,
    visible_conversations,
)
from examples.chat.services.changes import changed_fields
from lamina.domain import NotFound, PermissionDenied, slugify, utcnow
from lamina.persistence import UnitOfWork, where
from lamina.service import Action, MemberOf, Service

SLUG_ATTEMPTS = 20
"""Numbered slugs tried ("standup", "standup-2"…) before a random suffix is used."""


async def free_slug(uow: UnitOfWork, workspace_id: UUID, title: str) -> str:
    """A slug derived from ``title`` that no conversation of the workspace uses (deleted too)."""
    base = slugify(title, max_length=70, fallback="conversation")
    conversations = Conversations(uow)
    for n in range(1, SLUG_ATTEMPTS + 1):
        candidate = base if n == 1 else f"{base}-{n}"
        taken = await conversations.exists(
            where("workspace_id") == workspace_id,
            where("slug") == candidate,
            include_deleted=True,
        )
        if not taken:
            return candidate
    return f"{base}-{secrets.token_hex(4)}"


class ConversationService(Service[Conversation, Actor]):
    """The conversations the actor is invited to or takes part in."""

    repository = Conversations
    scope = MemberOf("id", visible_conversations)
    publishes = {"delete": ConversationDeleted, "restore": ConversationRestored}

    async def create(self, values: Mapping[str, Any]) -> Conversation:
        """Start a conversation in a workspace of the actor, who becomes an active participant."""
        workspace_id = values["workspace_id"]

        async def use_case(uow: UnitOfWork) -> Conversation:
            if not await member_workspaces(self.principal).contains(uow, workspace_id):
                raise NotFound("Workspace", workspace_id)
            slug = values.get("slug") or await free_slug(uow, workspace_id, values["title"])
            now = utcnow()
            conversation = self.new_entity({**values, "slug": slug, "last_activity_at": now})
            stored = await Conversations(uow).add(conversation)
            creator = Participant(
                conversation_id=stored.id,
                workspace_id=workspace_id,
                user_id=self.principal.user_id,
                status=ParticipantStatus.ACTIVE,
                joined_at=now,
            )
            await Participants(uow).add(creator)
            uow.publish(
                ConversationCreated(
                    workspace_id=workspace_id,
                    conversation_id=stored.id,
                    title=stored.title,
                    modality=stored.modality,
                    created_by_id=self.principal.user_id,
                )
            )
            return stored

        return await self.run(use_case)

    async def authorize(
        self,
        action: Action,
        entity: Conversation | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        if entity is None or action in (Action.LIST, Action.CREATE):
            return
        if action is Action.UPDATE:
            if not await joined_conversations(self.principal).contains(self.db, entity.id):
                raise PermissionDenied("only active participants may change a conversation")
            return
        if entity.created_by_id == self.principal.user_id:
            return
        if await role_in(self.principal, entity.workspace_id, self.db) not in MANAGERS:
            raise PermissionDenied(
                f"only its creator or a workspace owner/admin may {action.value} a conversation"
            )

    async def after_update(
        self, uow: UnitOfWork, before: Conversation, after: Conversation
    ) -> None:
        changes = changed_fields(before, after)
        if changes:
            uow.publish(
                ConversationUpdated(
                    workspace_id=after.workspace_id, conversation_id=after.id, changes=changes
                )
            )


class JoinedConversationService(ConversationService):
    """The conversations the actor actively takes part in: the parents of messages and
    recordings (an invitation not yet accepted does not show them)."""

    scope = MemberOf("id", joined_conversations)
