"""``ServiceSettings``: what every service with accounts is configured by, in one place.

A service's ``create_app`` takes them (tests pass a fast password cost and no
access log); each field left out has the documented environment default::

    def create_app(settings: ServiceSettings | None = None) -> FastAPI:
        settings = settings or ServiceSettings()
        db = settings.database()
        app = service_app(db, title="my service", settings=settings.api_settings())
        auth = Authenticator(TokenStore(db))
        app.include_router(auth_router(accounts, authenticator=auth,
                                       passwords=settings.password_hasher()))

Subclass it (a frozen dataclass) for a service's own settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lamina.api.app import ApiSettings
from lamina.persistence import Database, Keyring
from lamina.security.passwords import Argon2Parameters, PasswordHasher


@dataclass(frozen=True)
class ServiceSettings:
    """How a service runs. ``database_url``, ``secret_key`` and ``keyring`` default to
    ``LAMINA_DATABASE_URL``, ``LAMINA_SECRET_KEY`` and ``LAMINA_KEYS`` (see
    :class:`~lamina.persistence.Database`); the API's limits to ``LAMINA_API_*`` (see
    :class:`~lamina.api.ApiSettings`)."""

    database_url: str | None = None
    secret_key: str | None = None
    keyring: Keyring | None = None
    password_cost: Argon2Parameters = field(default_factory=Argon2Parameters)
    """The Argon2 cost of new password hashes (lower it in tests only)."""
    access_log: bool = True
    """Whether each request writes an access log line."""

    def database(self) -> Database:
        """A :class:`~lamina.persistence.Database` on these settings."""
        return Database(self.database_url, secret_key=self.secret_key, keyring=self.keyring)

    def api_settings(self) -> ApiSettings:
        """The API layer's settings: the environment's, with this access log choice."""
        return ApiSettings.from_env(access_log=self.access_log)

    def password_hasher(self) -> PasswordHasher:
        """The hasher of account passwords, at ``password_cost``."""
        return PasswordHasher(self.password_cost)
