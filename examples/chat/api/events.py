"""``GET /events``: the live stream of what the caller may see; ``GET /events/stats``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel
from starlette.responses import Response

from examples.chat.api.wiring import problems
from examples.chat.services import MemberService
from examples.chat.visibility import load_viewer, may_see
from lamina.api import (
    EventStreamResponse,
    EventStreams,
    Resources,
    default_event_data,
    parse_last_event_id,
)
from lamina.events import StoredEvent
from lamina.security import Authenticator, Principal


def chat_event_data(event: StoredEvent) -> dict[str, Any]:
    """The ``data:`` of each event: lamina's default plus who caused it."""
    actor = event.context.actor_id
    return {**default_event_data(event), "actor_id": str(actor) if actor else None}


class StreamConnection(BaseModel):
    """One open stream of this server process."""

    id: str
    user_id: str
    connected_at: datetime
    last_event_id: int | None
    events_sent: int
    buffered: int


class StreamStats(BaseModel):
    """The counters of this server process's streams, and the open streams of the members
    of the caller's workspaces (each worker process answers for its own streams)."""

    connections_open: int
    connections_total: int
    events_sent: int
    heartbeats_sent: int
    slow_disconnects: int
    connections: list[StreamConnection]


STREAM_DESCRIPTION = """Server-Sent Events: every change the caller may see, as it happens.

Authenticate with the bearer token, or from a browser (whose `EventSource` sends no
header) with `?ticket=` from `POST /events/ticket`: good for one stream, for seconds.

Each event is `id: <position>`, `event: <type>` and `data: <json>` (type, stream,
payload, actor_id...). Reconnect with `Last-Event-ID` (or `?last_event_id=`) to get
what was missed first. A client that cannot keep up gets `event: resume` and is
disconnected; reconnect with the `last_event_id` it names. When the access token is
revoked (logout) or expires, the stream ends with `event: unauthorized` within seconds.
A user holds at most a few streams at once per server process (429 beyond)."""


def event_router(
    resources: Resources, streams: EventStreams, authenticator: Authenticator
) -> APIRouter:
    """The stream, its browser tickets and its statistics."""
    router = APIRouter(tags=["events"])
    router.include_router(authenticator.ticket_router(responses=problems()))
    members = resources.service(MemberService)

    @router.get(
        "/events",
        response_class=EventStreamResponse,
        status_code=200,  # EventStreamResponse's constructor names no status for OpenAPI
        summary="Live events the caller may see",
        description=STREAM_DESCRIPTION,
        operation_id="stream_events",
        responses={
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **problems(429),
        },
    )
    async def stream(
        principal: Principal = Depends(authenticator.stream_principal),
        last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        last_event_id: Annotated[str | None, Query(max_length=20)] = None,
    ) -> Response:
        after = parse_last_event_id(
            last_event_id_header if last_event_id_header is not None else last_event_id
        )
        viewer, position = await load_viewer(resources.db, principal.user_id)
        start = position if after is None else after
        return EventStreamResponse(
            streams, viewer, may_see, start, str(principal.user_id), principal.credential
        )

    @router.get(
        "/events/stats",
        response_model=StreamStats,
        summary="Stream counters and open streams (workspace owners only)",
        operation_id="stream_stats",
        responses=problems(403),
    )
    async def stats(service: MemberService = Depends(members)) -> StreamStats:
        visible = {str(user_id) for user_id in await service.members_of_owned_workspaces()}
        counters = streams.stats
        return StreamStats(
            connections_open=counters.connections_open,
            connections_total=counters.connections_total,
            events_sent=counters.events_sent,
            heartbeats_sent=counters.heartbeats_sent,
            slow_disconnects=counters.slow_disconnects,
            connections=[
                StreamConnection(user_id=c.user, **c.model_dump(exclude={"user"}))
                for c in streams.connections()
                if c.user in visible
            ],
        )

    return router
