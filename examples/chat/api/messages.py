"""``/conversations/{id}/messages`` and ``DELETE /messages/{id}``: lamina's resource router
over :class:`MessageService` (active participants read and post; the sender deletes)."""

from __future__ import annotations

from fastapi import APIRouter

from examples.chat.api.wiring import UNAUTHENTICATED, Wiring
from examples.chat.services import JoinedConversationService, MessageService
from lamina.api import Parent, Route, resource_router


def message_router(wiring: Wiring) -> APIRouter:
    """List and post messages of a conversation; delete one's own message."""
    return resource_router(
        MessageService,
        provide=wiring.service(MessageService),
        path="/conversations/{conversation_id}/messages",
        item_path="/messages/{id}",
        parent=Parent("conversation_id", provide=wiring.service(JoinedConversationService)),
        routes={Route.LIST, Route.CREATE, Route.DELETE},
        responses=UNAUTHENTICATED,
        tags=["messages"],
    )
