"""``/workspaces/{id}/conversations``, ``/conversations/{id}`` and
``/conversations/{id}/history`` (the audit entries, a page at a time): lamina's resource
router."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from examples.chat.domain import Conversation, Metadata, Modality
from examples.chat.services import ConversationService, WorkspaceService
from lamina.api import DEFAULT_ROUTES, RequestBody, Resources, ResourceSchemas, Route, update_schema
from lamina.domain import Slug, Title


class ConversationCreate(RequestBody):
    """A new conversation; the slug is derived from the title when not given."""

    title: Annotated[Title, Field(examples=["Weekly sync"])]
    slug: Slug | None = None
    modality: Modality = Modality.TEXT
    metadata: Metadata = Field(default_factory=dict)


CONVERSATION_SCHEMAS = ResourceSchemas.from_entity(
    Conversation,
    create=ConversationCreate,
    # The modality is chosen once: recordings depend on it.
    update=update_schema(Conversation, exclude={"modality"}),
)


def conversation_router(resources: Resources) -> APIRouter:
    """Conversations of a workspace: list (``q`` searches titles), create, read, change,
    delete, restore, history."""
    return resources.router(
        ConversationService,
        path="/workspaces/{workspace_id}/conversations",
        item_path="/conversations/{id}",
        parent=resources.parent("workspace_id", WorkspaceService),
        schemas=CONVERSATION_SCHEMAS,
        routes={*DEFAULT_ROUTES, Route.HISTORY},
        query_aliases={"q": "title__icontains"},
        tags=["conversations"],
    )
