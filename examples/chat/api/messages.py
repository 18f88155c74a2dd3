"""``/conversations/{id}/messages`` and ``DELETE /messages/{id}``: lamina's resource router
over :class:`MessageService` (active participants read and post; the sender deletes)."""

from __future__ import annotations

from fastapi import APIRouter

from examples.chat.services import JoinedConversationService, MessageService
from lamina.api import Resources, Route


def message_router(resources: Resources) -> APIRouter:
    """List and post messages of a conversation; delete one's own message."""
    return resources.router(
        MessageService,
        path="/conversations/{conversation_id}/messages",
        item_path="/messages/{id}",
        parent=resources.parent("conversation_id", JoinedConversationService),
        routes={Route.LIST, Route.CREATE, Route.DELETE},
        tags=["messages"],
    )
