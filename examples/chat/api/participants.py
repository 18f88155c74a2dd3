"""``/conversations/{id}/participants``: the list (lamina's resource router), invitations,
and the invitee's answers: accept, reject, leave."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from examples.chat.api.wiring import UNAUTHENTICATED, Wiring, problems
from examples.chat.domain import Participant, Username
from examples.chat.services import ConversationService, ParticipantService
from lamina.api.etags import etag, if_match_parameter_doc, required_version
from lamina.api.nesting import Parent
from lamina.api.resources import Route, resource_router
from lamina.api.schemas import ResourceSchemas


class Invitation(BaseModel):
    """Whom to invite (a member of the conversation's workspace) and what to tell them."""

    model_config = ConfigDict(extra="forbid")

    username: Annotated[Username, Field(examples=["bob"])]
    initial_message: Annotated[str, StringConstraints(max_length=2000)] | None = None


PARTICIPANT_SCHEMAS = ResourceSchemas.from_entity(Participant)
ParticipantOut = PARTICIPANT_SCHEMAS.out


def participant_router(wiring: Wiring) -> APIRouter:
    """The participant routes of conversations."""
    participants = wiring.service(ParticipantService)
    router = resource_router(
        ParticipantService,
        provide=participants,
        path="/conversations/{conversation_id}/participants",
        item_path="/participants/{id}",
        parent=Parent("conversation_id", provide=wiring.service(ConversationService)),
        schemas=PARTICIPANT_SCHEMAS,
        routes={Route.LIST},
        responses=UNAUTHENTICATED,
        tags=["participants"],
    )

    def answer(participant: Participant, response: Response) -> BaseModel:
        response.headers["ETag"] = etag(participant.version)
        return ParticipantOut.model_validate(participant, from_attributes=True)

    @router.post(
        "/conversations/{conversation_id}/participants",
        status_code=201,
        response_model=ParticipantOut,
        summary="Invite a workspace member (active participants only)",
        operation_id="invite_participant",
        responses=problems(403, 404, 409, 422),
    )
    async def invite(
        conversation_id: UUID,
        body: Invitation,
        response: Response,
        service: ParticipantService = Depends(participants),
    ) -> BaseModel:
        invited = await service.invite(conversation_id, body.username, body.initial_message)
        return answer(invited, response)

    @router.post(
        "/conversations/{conversation_id}/participants/me/accept",
        response_model=ParticipantOut,
        summary="Accept my invitation",
        operation_id="accept_invitation",
        responses=problems(404, 409),
    )
    async def accept(
        conversation_id: UUID,
        response: Response,
        service: ParticipantService = Depends(participants),
    ) -> BaseModel:
        return answer(await service.accept(conversation_id), response)

    @router.post(
        "/conversations/{conversation_id}/participants/me/reject",
        response_model=ParticipantOut,
        summary="Reject my invitation",
        operation_id="reject_invitation",
        responses=problems(404, 409),
    )
    async def reject(
        conversation_id: UUID,
        response: Response,
        service: ParticipantService = Depends(participants),
    ) -> BaseModel:
        return answer(await service.reject(conversation_id), response)

    @router.delete(
        "/conversations/{conversation_id}/participants/me",
        status_code=204,
        response_class=Response,
        summary="Leave a conversation (If-Match: the ETag of my participation)",
        operation_id="leave_conversation",
        responses=problems(404, 409, 412, 428),
        openapi_extra={"parameters": [if_match_parameter_doc(True)]},
    )
    async def leave(
        conversation_id: UUID,
        version: int = Depends(required_version),
        service: ParticipantService = Depends(participants),
    ) -> Response:
        await service.leave(conversation_id, expected_version=version)
        return Response(status_code=204)

    return router
