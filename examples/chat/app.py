"""The chat service as a FastAPI app: lamina's API layer, auth routes, resources and the stream.

>>> app = create_app(ChatSettings(database_url="sqlite+aiosqlite:///./var/chat.db"))

The database must be migrated first (``python -m examples.chat`` does it, or
``lamina db upgrade``). :func:`app_from_env` is the factory uvicorn workers call.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
from examples.chat.api.wiring import UNAUTHENTICATED
from examples.chat.api.workspaces import workspace_router
from lamina.api import ApiSettings, DatabaseMetrics, EventStreams, Resources, install
from lamina.events import EventFeed, EventMetrics, EventNotifier, EventRunner
from lamina.persistence import Database
from lamina.security import (
    Argon2Parameters,
    Authenticator,
    LoginThrottle,
    PasswordHasher,
    RateLimit,
    RegistrationThrottle,
    TokenStore,
    auth_router,
)

DESCRIPTION = """The chat reference service of **lamina**: workspaces, conversations,
participants, messages, voice recordings and a live event stream.

Click **Authorize** and log in with a demo user (printed when the server starts),
or register one with `POST /auth/register` first."""


@dataclass(frozen=True)
class ChatSettings:
    """How the service runs. ``database_url`` and ``secret_key`` default to
    ``LAMINA_DATABASE_URL`` and ``LAMINA_SECRET_KEY`` (see :class:`~lamina.persistence.Database`).
    """

    database_url: str | None = None
    secret_key: str | None = None
    token_ttl: timedelta = timedelta(hours=8)
    password_cost: Argon2Parameters = field(default_factory=Argon2Parameters)
    sse_heartbeat: float = 15.0
    max_streams_per_user: int = 10
    """Open ``/events`` streams one user may hold in each worker process (429 beyond)."""
    registrations_per_hour: int | None = 10
    """Registrations one client address may make in an hour (429 beyond; None: no limit)."""
    access_log: bool = True


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    """The chat service on the (already migrated) database of ``settings``."""
    settings = settings or ChatSettings()
    db = Database(settings.database_url, secret_key=settings.secret_key)
    notifier = EventNotifier(db)
    feed = EventFeed(db, notifier=notifier)
    tokens = TokenStore(db, ttl=settings.token_ttl)
    streams = EventStreams(
        db,
        feed=feed,
        data=chat_event_data,
        heartbeat=settings.sse_heartbeat,
        credentials=tokens.invalid_among,
        max_per_user=settings.max_streams_per_user,
    )
    projections = EventRunner(db, [conversation_activity(db)], notifier=notifier)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await feed.start()
        await projections.start()
        restore_signals = streams.end_on_signals()  # SIGTERM: every stream gets "resume"
        try:
            yield
        finally:
            restore_signals()
            await projections.stop()
            await streams.close()
            await feed.stop()
            await notifier.stop()
            await db.close()

    app = FastAPI(title="lamina chat", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    metrics = install(
        app,
        ApiSettings.from_env(
            access_log=settings.access_log, readiness_checks={"database": db.ping}
        ),
    )
    metrics.add_collector(EventMetrics(db=db, runners=[projections], live=[streams], feed=feed))
    metrics.add_collector(DatabaseMetrics(db))
    authenticator = Authenticator(tokens)
    app.include_router(
        auth_router(
            chat_accounts(db),
            authenticator=authenticator,
            passwords=PasswordHasher(settings.password_cost),
            throttle=LoginThrottle(db),
            registrations=RegistrationThrottle(
                db,
                per_address=RateLimit(settings.registrations_per_hour, 3600)
                if settings.registrations_per_hour
                else None,
            ),
        )
    )
    resources = Resources(db, authenticator.current_principal, responses=UNAUTHENTICATED)
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
    app.state.database = db
    app.state.streams = streams
    return app


def app_from_env() -> FastAPI:
    """The app configured from the environment (the factory each uvicorn worker calls)."""
    return create_app(
        ChatSettings(
            access_log=os.environ.get("LAMINA_ACCESS_LOG", "1") != "0",
            max_streams_per_user=int(os.environ.get("MAX_STREAMS_PER_USER", "10")),
        )
    )
