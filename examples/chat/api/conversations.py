"""``/workspaces/{id}/conversations`` and ``/conversations/{id}`` (lamina's resource router),
plus ``/conversations/{id}/history``: the audit entries, a page at a time."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from examples.chat.api.wiring import UNAUTHENTICATED, Wiring, problems
from examples.chat.domain import Conversation, Metadata, Modality, Slug, Title
from examples.chat.services import ConversationService, WorkspaceService
from lamina.api.list_query import CURSOR_PATTERN, only_parameters
from lamina.api.nesting import Parent
from lamina.api.resources import Route, resource_router
from lamina.api.schemas import ResourceSchemas, page_schema, update_schema
from lamina.persistence import AuditEntry


class ConversationCreate(BaseModel):
    """A new conversation; the slug is derived from the title when not given."""

    model_config = ConfigDict(extra="forbid")

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

HistoryPage = page_schema(AuditEntry, name="AuditEntryPage")


def conversation_router(wiring: Wiring) -> APIRouter:
    """Conversations of a workspace: list (``q`` searches titles), create, read, change,
    delete, restore, history."""
    conversations = wiring.service(ConversationService)
    router = resource_router(
        ConversationService,
        provide=conversations,
        path="/workspaces/{workspace_id}/conversations",
        item_path="/conversations/{id}",
        parent=Parent("workspace_id", provide=wiring.service(WorkspaceService)),
        schemas=CONVERSATION_SCHEMAS,
        routes={
            Route.LIST,
            Route.CREATE,
            Route.GET,
            Route.UPDATE,
            Route.DELETE,
            Route.RESTORE,
        },
        query_aliases={"q": "title__icontains"},
        responses=UNAUTHENTICATED,
        tags=["conversations"],
    )

    @router.get(
        "/conversations/{id}/history",
        response_model=HistoryPage,
        summary="Who did what to a conversation: its audit entries, oldest first",
        operation_id="conversation_history",
        responses=problems(404),
        tags=["conversations"],
        dependencies=[Depends(only_parameters("limit", "cursor"))],
    )
    async def history(
        id: UUID,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
        service: ConversationService = Depends(conversations),
    ) -> Any:
        page = await service.history_page(id, limit=limit, cursor=cursor)
        return {"items": page.items, "next_cursor": page.next_cursor}

    return router
