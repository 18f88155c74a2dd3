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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lamina.api.app import ApiSettings, install
from lamina.api.metrics import DatabaseMetrics
from lamina.events import EventMetrics, EventNotifier, EventRunner, Subscription
from lamina.persistence import Database


def service_app(
    db: Database,
    *,
    title: str,
    subscriptions: Sequence[Subscription] = (),
    settings: ApiSettings | None = None,
    description: str = "",
    version: str = "0.1.0",
) -> FastAPI:
    """A FastAPI app serving on ``db``: :func:`install` with ``settings`` (default: from the
    environment) plus a ``database`` readiness check, database and event metrics, and an
    :class:`~lamina.events.EventRunner` of ``subscriptions`` for the app's lifetime."""
    notifier = EventNotifier(db)
    runner = EventRunner(db, subscriptions, notifier=notifier)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if subscriptions:
            await runner.start()
        try:
            yield
        finally:
            await runner.stop()
            await notifier.stop()
            await db.close()

    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    settings = settings or ApiSettings.from_env()
    checks = {"database": db.ping, **settings.readiness_checks}
    metrics = install(app, settings.model_copy(update={"readiness_checks": checks}))
    metrics.add_collector(EventMetrics(db=db, runners=[runner]))
    metrics.add_collector(DatabaseMetrics(db))
    app.state.database = db
    app.state.events = runner
    return app
