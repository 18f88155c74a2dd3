"""``/conversations/{id}/participants``: the list, invitations, and the invitee's answers
(accept, reject, leave), all actions of lamina's resource router."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field, StringConstraints

from examples.chat.domain import Username
from examples.chat.services import ConversationService, ParticipantService
from lamina.api import IfMatch, RequestBody, ResourceAction, Resources, Route


class Invitation(RequestBody):
    """Whom to invite (a member of the conversation's workspace) and what to tell them."""

    username: Annotated[Username, Field(examples=["bob"])]
    initial_message: Annotated[str, StringConstraints(max_length=2000)] | None = None


def participant_router(resources: Resources) -> APIRouter:
    """The participant routes of conversations: the list, and the actions on it."""
    me = "me"  # the caller's own participation, in the paths of the invitee's answers
    return resources.router(
        ParticipantService,
        path="/conversations/{conversation_id}/participants",
        parent=resources.parent("conversation_id", ConversationService),
        routes={Route.LIST},
        tags=["participants"],
        actions=[
            ResourceAction(
                "invite",
                ParticipantService.invite,
                body=Invitation,
                on="collection",
                path="",
                summary="Invite a workspace member (active participants only)",
            ),
            ResourceAction(
                "accept", ParticipantService.accept, on="collection", path=f"{me}/accept"
            ),
            ResourceAction(
                "reject", ParticipantService.reject, on="collection", path=f"{me}/reject"
            ),
            ResourceAction(
                "leave",
                ParticipantService.leave,
                on="collection",
                path=me,
                method="DELETE",
                if_match=IfMatch.REQUIRED,
                summary="Leave a conversation (If-Match: the ETag of my participation)",
            ),
        ],
    )
