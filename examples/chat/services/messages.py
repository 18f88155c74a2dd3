"""Messages: posted by active participants, deleted (softly) by their sender only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from examples.chat.domain import Message, MessageDeleted, MessagePosted
from examples.chat.repositories import Messages
from examples.chat.services.access import Actor, joined_conversation, joined_conversations
from lamina.persistence import UnitOfWork
from lamina.service import Action, MemberOf, Policy, Service


class SenderDeletes(Policy[Actor, Message]):
    """Anyone who reads a conversation may post to it; only the sender deletes a message."""

    def allows(
        self, principal: Actor, action: Action, entity: Message | None, changes: Mapping[str, Any]
    ) -> bool:
        if action in (Action.UPDATE, Action.DELETE, Action.RESTORE):
            return entity is not None and entity.sender_id == principal.user_id
        return True


class MessageService(Service[Message, Actor]):
    """The messages of the conversations the actor actively takes part in."""

    repository = Messages
    scope = MemberOf("conversation_id", joined_conversations)
    policy = SenderDeletes()
    publishes = {"delete": MessageDeleted}

    async def create(self, values: Mapping[str, Any]) -> Message:
        """Post a message (the conversation's last activity follows: see ``activity``)."""
        conversation_id = values["conversation_id"]

        async def use_case(uow: UnitOfWork) -> Message:
            conversation = await joined_conversation(self.principal, uow, conversation_id)
            message = self.new_entity(
                {
                    **values,
                    "workspace_id": conversation.workspace_id,
                    "sender_id": self.principal.user_id,
                }
            )
            stored = await Messages(uow).add(message)
            uow.publish(
                MessagePosted(
                    workspace_id=conversation.workspace_id,
                    conversation_id=conversation_id,
                    message_id=stored.id,
                    sender_id=stored.sender_id,
                    role=stored.role,
                    content=stored.content,
                )
            )
            return stored

        return await self.run(use_case)
