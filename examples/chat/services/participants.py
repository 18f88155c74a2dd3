"""Participants: invitations by active participants, accepted, rejected or left by the invitee.

Only active participants invite, and only members of the conversation's
workspace can be invited; inviting someone who is already invited or taking
part is a 409. Someone who rejected or left can be invited again.
"""

from __future__ import annotations

from uuid import UUID

from examples.chat.domain import (
    Participant,
    ParticipantInvited,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantRejected,
    ParticipantStatus,
)
from examples.chat.repositories import Participants, Users
from examples.chat.services.access import (
    BELONGING,
    Actor,
    membership_of,
    visible_conversation,
    visible_conversations,
)
from lamina.domain import (
    AlreadyExists,
    Conflict,
    NotFound,
    PermissionDenied,
    ReferenceMissing,
    utcnow,
)
from lamina.persistence import UnitOfWork, where
from lamina.service import MemberOf, Service


async def participant_of(
    uow: UnitOfWork, user_id: UUID, conversation_id: UUID
) -> Participant | None:
    """The participant row of ``user_id`` in ``conversation_id`` (any status), or None."""
    found = await Participants(uow).list(
        where("user_id") == user_id, where("conversation_id") == conversation_id, limit=1
    )
    return found[0] if found else None


class ParticipantService(Service[Participant, Actor]):
    """The participants of the conversations the actor is invited to or takes part in."""

    repository = Participants
    scope = MemberOf("conversation_id", visible_conversations)

    async def _mine(self, uow: UnitOfWork, conversation_id: UUID) -> Participant:
        """The actor's participant row; NotFound if the conversation is not visible to it."""
        await visible_conversation(self.principal, uow, conversation_id)
        mine = await participant_of(uow, self.principal.user_id, conversation_id)
        if mine is None:  # visible conversations are those with a participant row
            raise NotFound("Conversation", conversation_id)
        return mine

    async def invite(
        self, conversation_id: UUID, username: str, initial_message: str | None
    ) -> Participant:
        """Invite the workspace member called ``username``, with an optional first message."""

        async def use_case(uow: UnitOfWork) -> Participant:
            mine = await self._mine(uow, conversation_id)
            if mine.status is not ParticipantStatus.ACTIVE:
                raise PermissionDenied("only active participants may invite")
            workspace_id = mine.workspace_id
            invitee = await Users(uow).by_username(username)
            if invitee is None or not await membership_of(invitee.id, workspace_id, uow):
                raise ReferenceMissing(
                    "Participant", ["username"], f"no member of this workspace is called {username}"
                )
            existing = await participant_of(uow, invitee.id, conversation_id)
            changes = {
                "status": ParticipantStatus.INVITED,
                "invited_by_id": self.principal.user_id,
                "initial_message": initial_message,
                "joined_at": None,
            }
            participants = Participants(uow)
            if existing is None:
                invited = await participants.add(
                    Participant(
                        conversation_id=conversation_id,
                        workspace_id=workspace_id,
                        user_id=invitee.id,
                        **changes,
                    )
                )
            elif existing.status in BELONGING:
                raise AlreadyExists(
                    "Participant", ["username"], f"{username} is already a participant"
                )
            else:
                invited = await participants.update(
                    existing.id, changes, expected_version=existing.version
                )
            uow.publish(
                ParticipantInvited(
                    workspace_id=workspace_id,
                    conversation_id=conversation_id,
                    user_id=invitee.id,
                    invited_by_id=self.principal.user_id,
                    initial_message=initial_message,
                )
            )
            return invited

        return await self.run(use_case)

    async def accept(self, conversation_id: UUID) -> Participant:
        """Accept the actor's invitation: it becomes an active participant."""

        async def use_case(uow: UnitOfWork) -> Participant:
            mine = await self._answerable(uow, conversation_id)
            joined = await Participants(uow).update(
                mine.id,
                {"status": ParticipantStatus.ACTIVE, "joined_at": utcnow()},
                expected_version=mine.version,
            )
            uow.publish(
                ParticipantJoined(
                    workspace_id=mine.workspace_id,
                    conversation_id=conversation_id,
                    user_id=mine.user_id,
                )
            )
            return joined

        return await self.run(use_case)

    async def reject(self, conversation_id: UUID) -> Participant:
        """Turn the actor's invitation down."""

        async def use_case(uow: UnitOfWork) -> Participant:
            mine = await self._answerable(uow, conversation_id)
            rejected = await Participants(uow).update(
                mine.id, {"status": ParticipantStatus.REJECTED}, expected_version=mine.version
            )
            uow.publish(
                ParticipantRejected(
                    workspace_id=mine.workspace_id,
                    conversation_id=conversation_id,
                    user_id=mine.user_id,
                )
            )
            return rejected

        return await self.run(use_case)

    async def leave(self, conversation_id: UUID, *, expected_version: int) -> None:
        """Stop taking part in the conversation."""

        async def use_case(uow: UnitOfWork) -> None:
            mine = await self._mine(uow, conversation_id)
            if mine.status is not ParticipantStatus.ACTIVE:
                raise Conflict("only active participants can leave; reject the invitation instead")
            await Participants(uow).update(
                mine.id, {"status": ParticipantStatus.LEFT}, expected_version=expected_version
            )
            uow.publish(
                ParticipantLeft(
                    workspace_id=mine.workspace_id,
                    conversation_id=conversation_id,
                    user_id=mine.user_id,
                )
            )

        await self.run(use_case)

    async def _answerable(self, uow: UnitOfWork, conversation_id: UUID) -> Participant:
        mine = await self._mine(uow, conversation_id)
        if mine.status is not ParticipantStatus.INVITED:
            raise Conflict(f"there is no open invitation to answer (you are {mine.status.value})")
        return mine
