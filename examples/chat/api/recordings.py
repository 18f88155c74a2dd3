"""``/conversations/{id}/recordings`` and ``POST /recordings/{id}/end`` (lamina's resource
router; ending is an action: a use case, not a field update)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import Field

from examples.chat.domain import Recording, RecordingStatus
from examples.chat.services import JoinedConversationService, RecordingService
from lamina.api import IfMatch, RequestBody, ResourceAction, Resources, ResourceSchemas, Route

RECORDING_SCHEMAS = ResourceSchemas.from_entity(
    Recording,
    # Set by the start and end use cases, never by a client.
    exclude_input={"status", "started_at", "ended_at", "duration_ms", "size_bytes"},
)


MAX_SAFE_INTEGER = 2**53 - 1


class RecordingEnd(RequestBody):
    """How a recording ended; its end time and duration are the server's."""

    status: Literal[RecordingStatus.COMPLETED, RecordingStatus.FAILED] = Field(
        default=RecordingStatus.COMPLETED, description="completed or failed"
    )
    size_bytes: Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)] | None = None
    """At most 2**53 - 1: exact in every JSON client (JavaScript's largest safe integer)."""


def recording_router(resources: Resources) -> APIRouter:
    """Start, list and end recordings of voice conversations."""
    return resources.router(
        RecordingService,
        path="/conversations/{conversation_id}/recordings",
        item_path="/recordings/{id}",
        parent=resources.parent("conversation_id", JoinedConversationService),
        schemas=RECORDING_SCHEMAS,
        routes={Route.LIST, Route.CREATE},
        tags=["recordings"],
        actions=[
            # If-Match is optional: ending twice is a 409 either way.
            ResourceAction(
                "end", RecordingService.end, body=RecordingEnd, if_match=IfMatch.OPTIONAL
            )
        ],
    )
