"""``service_app``: the FastAPI app of a service on one database, with what every service has.

Every service built on lamina starts its app the same way: lamina's API layer
(:func:`install`), ``/readyz`` asking the database, ``/metrics`` with the
database's and the event runners' figures, its projections run in the process
and everything closed at shutdown::

    db = Database(settings.database_url, secret_key=settings.secret_key)
    app = service_app(db, title="lamina learning", subscriptions=[course_stats(db)])
    app.include_router(...)

``app.state.database`` is ``db`` and ``app.state.events`` the
:class:`~lamina.events.EventRunner` of ``subscriptions`` (started with the app,
stopped before the database closes).

An app with live streams gives its :class:`~lamina.api.EventStreams` too: its
feed starts with the app (sharing the runner's notifier: one ``LISTEN``
connection), SIGTERM ends every stream with ``resume`` so clients move to
another worker at once, the streams close before the database, and
``/metrics`` counts their connections; ``app.state.streams`` is it::

    streams = EventStreams(db, credentials=tokens.invalid_among)
    app = service_app(db, title="chat", subscriptions=[activity(db)], streams=streams)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lamina.api.app import ApiSettings, install
from lamina.api.metrics import DatabaseMetrics
from lamina.api.sse import EventStreams
from lamina.events import EventMetrics, EventNotifier, EventRelay, EventRunner, Subscription
from lamina.persistence import Database


def service_app(
    db: Database,
    *,
    title: str,
    subscriptions: Sequence[Subscription] = (),
    streams: EventStreams | None = None,
    relays: Sequence[EventRelay] = (),
    settings: ApiSettings | None = None,
    description: str = "",
    version: str = "0.1.0",
) -> FastAPI:
    """A FastAPI app serving on ``db``: :func:`install` with ``settings`` (default: from the
    environment) plus a ``database`` readiness check, database and event metrics, and an
    :class:`~lamina.events.EventRunner` of ``subscriptions`` for the app's lifetime, and the
    lifecycle of ``streams`` (see the module). ``relays`` (each an
    :class:`~lamina.events.EventRelay` to NATS JetStream) run with the app too."""
    feed = streams.hub.feed if streams is not None else None
    notifier = feed.notifier if feed is not None else EventNotifier(db)
    runner = EventRunner(db, subscriptions, notifier=notifier)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if feed is not None:
            await feed.start()
        if subscriptions:
            await runner.start()
        for relay in relays:
            await relay.start()
        restore_signals = streams.end_on_signals() if streams is not None else None
        try:
            yield
        finally:
            if restore_signals is not None:
                restore_signals()
            for relay in relays:
                await relay.stop()
            await runner.stop()
            if streams is not None:
                await streams.close()
            if feed is not None:
                await feed.stop()
            await notifier.stop()
            await db.close()

    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    settings = settings or ApiSettings.from_env()
    checks = {"database": db.ping, **settings.readiness_checks}
    metrics = install(app, settings.model_copy(update={"readiness_checks": checks}))
    live = [streams] if streams is not None else []
    metrics.add_collector(
        EventMetrics(db=db, runners=[runner], live=live, feed=feed, relays=relays)
    )
    metrics.add_collector(DatabaseMetrics(db))
    app.state.database = db
    app.state.events = runner
    app.state.streams = streams
    return app
