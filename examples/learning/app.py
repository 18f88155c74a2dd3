"""The e-learning service as a FastAPI app (``create_app``; ``app_from_env`` for uvicorn).

The database must be migrated first (``python -m examples.learning`` does it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI

from examples.learning.api import UserOut, UserRegistration, routers
from examples.learning.repositories import Users
from examples.learning.stats import course_stats
from lamina.api import ApiSettings, DatabaseMetrics, Resources, install, problem_responses
from lamina.events import EventMetrics, EventNotifier, EventRunner
from lamina.persistence import Database
from lamina.security import (
    Argon2Parameters,
    Authenticator,
    PasswordHasher,
    RepositoryAccounts,
    TokenStore,
    auth_router,
)


@dataclass(frozen=True)
class LearningSettings:
    """``database_url`` and ``secret_key`` default to ``LAMINA_DATABASE_URL`` and
    ``LAMINA_SECRET_KEY``."""

    database_url: str | None = None
    secret_key: str | None = None
    password_cost: Argon2Parameters = field(default_factory=Argon2Parameters)
    access_log: bool = True


def create_app(settings: LearningSettings | None = None) -> FastAPI:
    """The service on the (already migrated) database of ``settings``."""
    settings = settings or LearningSettings()
    db = Database(settings.database_url, secret_key=settings.secret_key)
    notifier = EventNotifier(db)
    projections = EventRunner(db, [course_stats(db)], notifier=notifier)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await projections.start()
        try:
            yield
        finally:
            await projections.stop()
            await notifier.stop()
            await db.close()

    app = FastAPI(title="lamina learning", version="0.1.0", lifespan=lifespan)
    settings_ = ApiSettings.from_env(
        access_log=settings.access_log, readiness_checks={"database": db.ping}
    )
    metrics = install(app, settings_)
    metrics.add_collector(EventMetrics(db=db, runners=[projections]))
    metrics.add_collector(DatabaseMetrics(db))
    auth = Authenticator(TokenStore(db), scopes={"tutor": "Post the tutor's replies in chats"})
    accounts = RepositoryAccounts(db, Users, UserOut, scopes_field="scopes")
    app.include_router(
        auth_router(
            accounts,
            authenticator=auth,
            registration_model=UserRegistration,
            user_model=UserOut,
            passwords=PasswordHasher(settings.password_cost),
        )
    )
    resources = Resources(db, auth.optional_principal, responses=problem_responses(401))
    for router in routers(resources):
        app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """The app configured from the environment (the factory each uvicorn worker calls)."""
    return create_app()
