"""Recordings of voice conversations: started and ended by active participants.

At most one recording of a conversation is in progress at a time (a partial
unique index makes this hold under concurrency too); ending one twice is a
409 (an action on the row held for update, so two concurrent ends take turns);
its duration is computed from its start and end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from examples.chat.domain import (
    Modality,
    Recording,
    RecordingEnded,
    RecordingStarted,
    RecordingStatus,
)
from examples.chat.repositories import Recordings
from examples.chat.services.access import Actor, joined_conversation, joined_conversations
from lamina.domain import AlreadyExists, Conflict, InvalidInput, utcnow
from lamina.persistence import UnitOfWork, where
from lamina.service import MemberOf, Service

ALREADY_RECORDING = "this conversation is already being recorded"


class RecordingService(Service[Recording, Actor]):
    """The recordings of the voice conversations the actor actively takes part in."""

    repository = Recordings
    scope = MemberOf("conversation_id", joined_conversations)

    async def create(self, values: Mapping[str, Any]) -> Recording:
        """Start recording a voice conversation (409 if one is in progress)."""
        conversation_id = values["conversation_id"]

        async def use_case(uow: UnitOfWork) -> Recording:
            conversation = await joined_conversation(self.principal, uow, conversation_id)
            if conversation.modality is not Modality.VOICE:
                raise Conflict("only voice conversations can be recorded")
            recordings = Recordings(uow)
            if await recordings.exists(
                where("conversation_id") == conversation_id,
                where("status") == RecordingStatus.RECORDING,
            ):
                raise Conflict(ALREADY_RECORDING)
            recording = self.new_entity(
                {
                    **values,
                    "workspace_id": conversation.workspace_id,
                    "started_by_id": self.principal.user_id,
                    "started_at": utcnow(),
                }
            )
            try:
                stored = await recordings.add(recording)
            except AlreadyExists:  # another start won the race
                raise Conflict(ALREADY_RECORDING) from None
            uow.publish(
                RecordingStarted(
                    workspace_id=stored.workspace_id,
                    conversation_id=conversation_id,
                    recording_id=stored.id,
                    started_by_id=stored.started_by_id,
                    format=stored.format,
                    sample_rate=stored.sample_rate,
                )
            )
            return stored

        return await self.run(use_case)

    async def end(
        self,
        id: UUID,
        *,
        status: RecordingStatus = RecordingStatus.COMPLETED,
        size_bytes: int | None = None,
        expected_version: int | None = None,
    ) -> Recording:
        """End a recording in progress (409 if it has ended already)."""
        if status is RecordingStatus.RECORDING:
            raise InvalidInput.for_field("status", "a recording ends as completed or failed")

        async def ending(uow: UnitOfWork, current: Recording) -> dict[str, Any]:
            if current.status is not RecordingStatus.RECORDING:
                raise Conflict(f"this recording has already ended ({current.status.value})")
            ended_at = utcnow()
            duration_ms = max(0, round((ended_at - current.started_at).total_seconds() * 1000))
            uow.publish(
                RecordingEnded(
                    workspace_id=current.workspace_id,
                    conversation_id=current.conversation_id,
                    recording_id=current.id,
                    status=status,
                    duration_ms=duration_ms,
                    size_bytes=size_bytes,
                )
            )
            return {
                "status": status,
                "ended_at": ended_at,
                "duration_ms": duration_ms,
                "size_bytes": size_bytes,
            }

        return await self.act(id, "end", ending, expected_version=expected_version)
