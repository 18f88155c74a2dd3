"""``/conversations/{id}/recordings`` (lamina's resource router) and
``POST /recordings/{id}/end`` (by hand: ending is a use case, not a field update)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from examples.chat.api.wiring import UNAUTHENTICATED, Wiring, problems
from examples.chat.domain import Recording, RecordingStatus
from examples.chat.services import JoinedConversationService, RecordingService
from lamina.api.etags import etag
from lamina.api.nesting import Parent
from lamina.api.resources import Route, resource_router
from lamina.api.schemas import ResourceSchemas

RECORDING_SCHEMAS = ResourceSchemas.from_entity(
    Recording,
    # Set by the start and end use cases, never by a client.
    exclude_input={"status", "started_at", "ended_at", "duration_ms", "size_bytes"},
)
RecordingOut = RECORDING_SCHEMAS.out


MAX_SAFE_INTEGER = 2**53 - 1


class RecordingEnd(BaseModel):
    """How a recording ended; its end time and duration are the server's."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[RecordingStatus.COMPLETED, RecordingStatus.FAILED] = Field(
        default=RecordingStatus.COMPLETED, description="completed or failed"
    )
    size_bytes: Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)] | None = None
    """At most 2**53 - 1: exact in every JSON client (JavaScript's largest safe integer)."""


def recording_router(wiring: Wiring) -> APIRouter:
    """Start, list and end recordings of voice conversations."""
    recordings = wiring.service(RecordingService)
    router = resource_router(
        RecordingService,
        provide=recordings,
        path="/conversations/{conversation_id}/recordings",
        item_path="/recordings/{id}",
        parent=Parent("conversation_id", provide=wiring.service(JoinedConversationService)),
        schemas=RECORDING_SCHEMAS,
        routes={Route.LIST, Route.CREATE},
        responses=UNAUTHENTICATED,
        tags=["recordings"],
    )

    @router.post(
        "/recordings/{id}/end",
        response_model=RecordingOut,
        summary="End a recording in progress (409 if it has ended already)",
        operation_id="end_recording",
        responses=problems(404, 409, 422),
        tags=["recordings"],
    )
    async def end(
        id: UUID,
        response: Response,
        body: Annotated[RecordingEnd | None, Body()] = None,
        service: RecordingService = Depends(recordings),
    ) -> BaseModel:
        how = body or RecordingEnd()
        ended = await service.end(id, status=how.status, size_bytes=how.size_bytes)
        response.headers["ETag"] = etag(ended.version)
        return RecordingOut.model_validate(ended, from_attributes=True)

    return router
