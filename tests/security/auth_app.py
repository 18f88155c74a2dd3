"""A small application the security tests run against, over HTTP.

It owns its user table (row, entity, repository, schemas) and implements
:class:`lamina.security.UserAccounts` over it, as a real application would;
lamina only hands it Argon2 hashes and serves the auth routes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

import httpx
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import ApiSettings, install
from lamina.domain import SENSITIVE, Entity, EventContext, Timestamped
from lamina.persistence import (
    Base,
    Database,
    Repository,
    TimestampColumns,
    UUIDPrimaryKey,
    new_metadata,
    where,
)
from lamina.security import (
    Argon2Parameters,
    Authenticator,
    Credentials,
    LoginThrottle,
    Password,
    PasswordHasher,
    Principal,
    RateLimit,
    RegistrationThrottle,
    TokenStore,
    auth_router,
)

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
"""The ``client_for`` fixture: ``async with client_for(app, address=...) as client``."""

FAST_ARGON2 = Argon2Parameters(time_cost=1, memory_cost_kib=1024, parallelism=1)
"""Cheap hashing for tests that do not measure time (production uses the defaults)."""


class AuthTestBase(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = Base.type_annotation_map


class AccountRow(AuthTestBase, UUIDPrimaryKey, TimestampColumns):
    __tablename__ = "security_test_accounts"

    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(default=False)


class Account(Entity, Timestamped):
    username: str
    email: str
    display_name: str
    password_hash: Annotated[str, SENSITIVE]
    is_admin: bool = False


class AccountRepository(Repository[Account, AccountRow]):
    filterable = ("username",)


class AccountRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=r"^[a-z0-9_]{3,32}$")
    email: EmailStr
    display_name: str = Field(min_length=1, max_length=100)
    password: Password


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    username: str
    email: str
    display_name: str


class Accounts:
    """The application's implementation of ``UserAccounts`` (and of hash upgrades)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def find_credentials(self, username: str) -> Credentials | None:
        found = await AccountRepository(self.db).list(where("username") == username, limit=1)
        if not found:
            return None
        account = found[0]
        scopes = frozenset({"admin"}) if account.is_admin else frozenset()
        return Credentials(account.id, account.password_hash, scopes)

    async def create_user(
        self, registration: AccountRegistration, password_hash: str
    ) -> AccountOut:
        account = Account(
            username=registration.username,
            email=registration.email,
            display_name=registration.display_name,
            password_hash=password_hash,
        )
        stored = await AccountRepository(self.db).add(account)
        return AccountOut.model_validate(stored)

    async def load_user(self, user_id: UUID) -> AccountOut | None:
        account = await AccountRepository(self.db).get_or_none(user_id)
        return AccountOut.model_validate(account) if account else None

    async def replace_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await AccountRepository(self.db).update(user_id, {"password_hash": password_hash})


class MutableClock:
    """A clock for token expiry that tests move forward by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def build_app(
    db: Database,
    *,
    passwords: PasswordHasher | None = None,
    throttle: LoginThrottle | None = None,
    registrations: RegistrationThrottle | None = None,
    clock: Callable[[], datetime] | None = None,
    ttl: timedelta = timedelta(minutes=30),
    tokens: TokenStore | None = None,
    access_log: bool = False,
    cors_origins: tuple[str, ...] = (),
) -> FastAPI:
    """The test service: lamina's API install, the auth routes and two protected routes."""
    tokens = tokens or TokenStore(db, ttl=ttl, clock=clock or MutableClock())
    auth = Authenticator(tokens, scopes={"admin": "administer the service"})
    app = FastAPI(title="security test app")
    install(app, ApiSettings(access_log=access_log, cors_origins=cors_origins))
    app.include_router(
        auth_router(
            Accounts(db),
            authenticator=auth,
            registration_model=AccountRegistration,
            user_model=AccountOut,
            passwords=passwords or PasswordHasher(FAST_ARGON2),
            throttle=throttle or LoginThrottle(db, per_pair=RateLimit(5, 60), slowdown=None),
            registrations=registrations or RegistrationThrottle(db, per_address=None),
        )
    )

    @app.get("/whoami")
    async def whoami(
        principal: Principal = Depends(auth.current_principal),
    ) -> dict[str, str | None]:
        actor = EventContext.current().actor_id
        return {"user_id": str(principal.user_id), "actor_id": str(actor) if actor else None}

    app.include_router(auth.ticket_router())

    @app.get("/stream-whoami")
    async def stream_whoami(
        principal: Principal = Depends(auth.stream_principal),
    ) -> dict[str, str]:
        return {"user_id": str(principal.user_id)}

    @app.get("/maybe-whoami")
    async def maybe_whoami(
        principal: Principal | None = Depends(auth.optional_principal),
    ) -> dict[str, str | None]:
        return {"user_id": str(principal.user_id) if principal else None}

    @app.get("/admin/stats", dependencies=[auth.require_scopes("admin")])
    async def admin_stats() -> dict[str, int]:
        return {"accounts": await AccountRepository(db).count()}

    return app
