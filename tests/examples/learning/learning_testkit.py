"""Helpers of the e-learning service tests: the real app on a socket, users with tokens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from examples.learning.app import create_app
from examples.learning.base import LearningBase
from examples.learning.user import User
from sqlalchemy import text

from lamina.persistence import Database
from lamina.security import Argon2Parameters, PasswordHasher, RepositoryAccounts, ServiceSettings
from server_kit import reset_app_tables, serve_in_process

SECRET = "learning-tests-secret"
FAST_PASSWORDS = Argon2Parameters(time_cost=1, memory_cost_kib=1024, parallelism=1)
PASSWORD = "correct horse battery"
TIMEOUT = 10.0
PROBLEM = "application/problem+json"

T = TypeVar("T")


async def reset_database(url: str) -> None:
    """Empty learning and lamina tables on ``url`` (and forget any migration state)."""
    await reset_app_tables(url, LearningBase.metadata)


def serving(url: str) -> contextlib.AbstractAsyncContextManager[str]:
    """The app on ``url``, served on a real socket in this event loop; its base URL."""
    settings = ServiceSettings(
        database_url=url, secret_key=SECRET, password_cost=FAST_PASSWORDS, access_log=False
    )
    return serve_in_process(create_app(settings), timeout_graceful_shutdown=1)


@dataclass
class Client:
    """A user's HTTP client (logged in unless anonymous)."""

    id: str | None
    client: httpx.AsyncClient

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, url, **kwargs)

    async def ok(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        """The JSON of a call that must answer ``status``."""
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.status_code, response.text)
        return response.json() if response.content else None

    async def problem(self, method: str, url: str, status: int, **kwargs: Any) -> Any:
        """The problem+json of a call that must fail with ``status``."""
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.status_code, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        return response.json()


@contextlib.asynccontextmanager
async def user_on(base: str, username: str, *, scopes: str = "") -> AsyncIterator[Client]:
    """``username`` registered on ``base`` and logged in (with ``scopes``, when its user
    was granted them: see :func:`grant`)."""
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        registration = {
            "username": username,
            "email": f"{username}@example.com",
            "display_name": username.capitalize(),
            "password": PASSWORD,
        }
        await client.post("/auth/register", json=registration)
        form = {"username": username, "password": PASSWORD, "scope": scopes}
        token = await client.post("/auth/token", data=form)
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        me = (await client.get("/users/me")).json()
        yield Client(me["id"], client)


@contextlib.asynccontextmanager
async def anonymous_on(base: str) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        yield Client(None, client)


async def grant(url: str, username: str, scopes: str) -> None:
    """Give the user ``username`` the ``scopes`` it may ask for at login."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE learning_users SET scopes = :s WHERE username = :u"),
                {"s": scopes, "u": username},
            )
    finally:
        await db.close()


async def create_users(url: str, names: list[str]) -> None:
    """Store users ``names`` (password :data:`PASSWORD`) directly: past the registration limit."""
    db = Database(url)
    try:
        accounts, hasher = RepositoryAccounts(db, User), PasswordHasher(FAST_PASSWORDS)
        for name in names:
            form = {"username": name, "email": f"{name}@example.com", "display_name": name}
            await accounts.register({**form, "password": PASSWORD}, hasher)
    finally:
        await db.close()


async def eventually(read: Callable[[], Awaitable[T]], holds: Callable[[T], bool]) -> T:
    """``read()`` again until ``holds`` accepts what it gave (for projections that trail)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            value = await read()
            if holds(value):
                return value
            await asyncio.sleep(0.02)


def etag_of(response_or_item: httpx.Response | dict[str, Any]) -> dict[str, str]:
    """``If-Match`` headers naming the version of a response's ETag or an item's version."""
    if isinstance(response_or_item, dict):
        return {"If-Match": f'"{response_or_item["version"]}"'}
    return {"If-Match": response_or_item.headers["ETag"]}
