"""The ETL registry as a FastAPI app (``create_app``; ``app_from_env`` for uvicorn).

The database must be migrated first (``python -m examples.etl`` does it).
"""

from __future__ import annotations

from fastapi import FastAPI

from examples.etl.api import routers
from examples.etl.repositories import Users
from lamina.api import Resources, service_app
from lamina.security import (
    Authenticator,
    RepositoryAccounts,
    ServiceSettings,
    TokenStore,
    auth_router,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service on the (already migrated) database of ``settings`` (its keyring: the
    configuration secrets' keys, default ``LAMINA_KEYS``)."""
    settings = settings or ServiceSettings()
    db = settings.database()
    app = service_app(db, title="lamina etl", settings=settings.api_settings())
    auth = Authenticator(TokenStore(db))
    accounts = RepositoryAccounts(db, Users)
    app.include_router(
        auth_router(accounts, authenticator=auth, passwords=settings.password_hasher())
    )
    for router in routers(Resources(db, auth.current_principal)):
        app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """The app configured from the environment (the factory each uvicorn worker calls)."""
    return create_app()
