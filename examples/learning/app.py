"""The e-learning service as a FastAPI app (``create_app``; ``app_from_env`` for uvicorn).

The database must be migrated first (``python -m examples.learning`` does it).
"""

from __future__ import annotations

from fastapi import FastAPI

from examples.learning.api import routers
from examples.learning.repositories import Users
from examples.learning.stats import course_stats
from lamina.api import Resources, service_app
from lamina.security import (
    Authenticator,
    RepositoryAccounts,
    ServiceSettings,
    TokenStore,
    auth_router,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service on the (already migrated) database of ``settings``."""
    settings = settings or ServiceSettings()
    db = settings.database()
    stats = [course_stats(db)]
    app = service_app(
        db, title="lamina learning", subscriptions=stats, settings=settings.api_settings()
    )
    auth = Authenticator(TokenStore(db), scopes={"tutor": "Post the tutor's replies in chats"})
    accounts = RepositoryAccounts(db, Users, scopes_field="scopes")
    app.include_router(
        auth_router(accounts, authenticator=auth, passwords=settings.password_hasher())
    )
    for router in routers(Resources(db, auth.optional_principal)):
        app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """The app configured from the environment (the factory each uvicorn worker calls)."""
    return create_app()
