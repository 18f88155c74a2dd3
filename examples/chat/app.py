"""The chat service as a FastAPI app: lamina's API layer, auth routes, resources and the stream.

>>> app = create_app(ChatSettings(database_url="sqlite+aiosqlite:///./var/chat.db"))

The database must be migrated first (``python -m examples.chat`` does it, or
``lamina db upgrade``). :func:`app_from_env` is the factory uvicorn workers call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI

from examples.chat.activity import conversation_activity
from examples.chat.api.accounts import chat_accounts
from examples.chat.api.conversations import conversation_router
from examples.chat.api.events import chat_event_data, event_router
from examples.chat.api.messages import message_router
from examples.chat.api.participants import participant_router
from examples.chat.api.recordings import recording_router
from examples.chat.api.web import mount_web_client
from examples.chat.api.workspaces import workspace_router
from lamina.api import EventStreams, Resources, service_app
from lamina.events import EventRelay
from lamina.security import (
    Authenticator,
    LoginThrottle,
    RateLimit,
    RegistrationThrottle,
    ServiceSettings,
    TokenStore,
    auth_router,
)

DESCRIPTION = """The chat reference service of **lamina**: workspaces, conversations,
participants, messages, voice recordings and a live event stream.

Click **Authorize** and log in with a demo user (printed when the server starts),
or register one with `POST /auth/register` first."""


@dataclass(frozen=True)
class ChatSettings(ServiceSettings):
    """How the service runs: lamina's :class:`~lamina.security.ServiceSettings` (database,
    keys, password cost, access log) and the chat's own."""

    token_ttl: timedelta = timedelta(hours=8)
    sse_heartbeat: float = 15.0
    max_streams_per_user: int = 10
    """Open ``/events`` streams one user may hold in each worker process (429 beyond)."""
    registrations_per_hour: int | None = 10
    """Registrations one client address may make in an hour (429 beyond; None: no limit)."""
    relay_url: str | None = field(
        default_factory=lambda: os.environ.get("LAMINA_RELAY_URL") or None
    )
    """NATS server(s), comma-separated, to relay the event log to (JetStream stream
    ``relay_stream``, subjects ``<relay_subject_prefix>.<event type>.<stream id>``); default
    ``LAMINA_RELAY_URL``, unset: no relay. Every worker runs one; a lease lets one publish."""
    relay_stream: str = "LAMINA_EVENTS"
    relay_subject_prefix: str = "lamina"


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    """The chat service on the (already migrated) database of ``settings``."""
    settings = settings or ChatSettings()
    db = settings.database()
    tokens = TokenStore(db, ttl=settings.token_ttl)
    streams = EventStreams(
        db,
        data=chat_event_data,
        heartbeat=settings.sse_heartbeat,
        credentials=tokens.invalid_among,
        max_per_user=settings.max_streams_per_user,
    )
    relays = (  # LAMINA_RELAY_URL: the log relayed to NATS JetStream
        [
            EventRelay(
                db,
                settings.relay_url.split(","),
                stream=settings.relay_stream,
                subject_prefix=settings.relay_subject_prefix,
            )
        ]
        if settings.relay_url
        else []
    )
    app = service_app(
        db,
        title="lamina chat",
        description=DESCRIPTION,
        subscriptions=[conversation_activity(db)],
        streams=streams,
        relays=relays,
        settings=settings.api_settings(),
    )
    authenticator = Authenticator(tokens)
    app.include_router(
        auth_router(
            chat_accounts(db),
            authenticator=authenticator,
            passwords=settings.password_hasher(),
            throttle=LoginThrottle(db),
            registrations=RegistrationThrottle(
                db,
                per_address=RateLimit(settings.registrations_per_hour, 3600)
                if settings.registrations_per_hour
                else None,
            ),
        )
    )
    resources = Resources(db, authenticator.current_principal)
    for router in (
        workspace_router(resources),
        conversation_router(resources),
        participant_router(resources),
        message_router(resources),
        recording_router(resources),
        event_router(resources, streams, authenticator),
    ):
        app.include_router(router)
    mount_web_client(app)
    return app


def app_from_env() -> FastAPI:
    """The app configured from the environment (the factory each uvicorn worker calls)."""
    return create_app(
        ChatSettings(
            access_log=os.environ.get("LAMINA_ACCESS_LOG", "1") != "0",
            max_streams_per_user=int(os.environ.get("MAX_STREAMS_PER_USER", "10")),
        )
    )
