"""The ETL registry as a FastAPI app (``create_app``; ``app_from_env`` for uvicorn).

The database must be migrated first (``python -m examples.etl`` does it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI

from examples.etl.api import routers
from examples.etl.repositories import Users
from lamina.api import ApiSettings, Resources, problem_responses, service_app
from lamina.persistence import Database, Keyring
from lamina.security import (
    Argon2Parameters,
    Authenticator,
    PasswordHasher,
    RepositoryAccounts,
    TokenStore,
    auth_router,
)


@dataclass(frozen=True)
class EtlSettings:
    """Defaults: ``LAMINA_DATABASE_URL``, ``LAMINA_SECRET_KEY``, ``LAMINA_KEYS``…"""

    database_url: str | None = None
    secret_key: str | None = None
    keyring: Keyring | None = None
    password_cost: Argon2Parameters = field(default_factory=Argon2Parameters)
    access_log: bool = True


def create_app(settings: EtlSettings | None = None) -> FastAPI:
    """The service on the (already migrated) database of ``settings``."""
    settings = settings or EtlSettings()
    db = Database(settings.database_url, secret_key=settings.secret_key, keyring=settings.keyring)
    api = ApiSettings.from_env(access_log=settings.access_log)
    app = service_app(db, title="lamina etl", settings=api)
    auth = Authenticator(TokenStore(db))
    accounts = RepositoryAccounts(db, Users)
    passwords = PasswordHasher(settings.password_cost)
    app.include_router(auth_router(accounts, authenticator=auth, passwords=passwords))
    resources = Resources(db, auth.current_principal, responses=problem_responses(401))
    for router in routers(resources):
        app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """The app configured from the environment (the factory each uvicorn worker calls)."""
    return create_app()
