"""Helpers of the ETL registry tests: the real app on a socket, users with tokens."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from examples.etl.app import create_app
from examples.etl.rows import EtlTable

from lamina.persistence import Keyring, new_key
from lamina.security import Argon2Parameters, ServiceSettings
from server_kit import reset_app_tables, serve_in_process

SECRET = "etl-tests-secret"
KEYRING = Keyring.parse(f"k1={new_key()}", index_key=new_key())
FAST_PASSWORDS = Argon2Parameters(time_cost=1, memory_cost_kib=1024, parallelism=1)
PASSWORD = "correct horse battery"
TIMEOUT = 30.0
PROBLEM = "application/problem+json"
ANSWERS: list[str] = []
"""The body of every answer the clients got (to look for leaks)."""


async def reset_database(url: str) -> None:
    """Empty ETL and lamina tables on ``url`` (and forget any migration state)."""
    await reset_app_tables(url, EtlTable.metadata)


def serving(url: str, **settings: Any) -> contextlib.AbstractAsyncContextManager[str]:
    """The app on ``url``, served on a real socket in this event loop; its base URL."""
    options = {"secret_key": SECRET, "password_cost": FAST_PASSWORDS, "access_log": False}
    app = create_app(ServiceSettings(database_url=url, keyring=KEYRING, **{**options, **settings}))
    return serve_in_process(app, timeout_graceful_shutdown=1)


@dataclass
class Client:
    """A user's logged-in HTTP client."""

    id: str
    client: httpx.AsyncClient

    async def ok(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        """The JSON of a call that must answer ``status``."""
        response = await self.client.request(method, url, **kwargs)
        ANSWERS.append(response.text)
        assert response.status_code == status, (method, url, response.status_code, response.text)
        return response.json() if response.content else None

    async def problem(self, method: str, url: str, status: int, **kwargs: Any) -> Any:
        """The problem+json of a call that must fail with ``status``."""
        response = await self.client.request(method, url, **kwargs)
        ANSWERS.append(response.text)
        assert response.status_code == status, (method, url, response.status_code, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        return response.json()


@contextlib.asynccontextmanager
async def user_on(base: str, username: str) -> AsyncIterator[Client]:
    """``username`` registered on ``base`` and logged in."""
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        registration = {
            "username": username,
            "email": f"{username}@example.com",
            "display_name": username.capitalize(),
            "password": PASSWORD,
        }
        await client.post("/auth/register", json=registration)
        token = await client.post("/auth/token", data={"username": username, "password": PASSWORD})
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        me = (await client.get("/users/me")).json()
        yield Client(me["id"], client)


def if_match(item: dict[str, Any]) -> dict[str, str]:
    """``If-Match`` naming an item's version."""
    return {"If-Match": f'"{item["version"]}"'}
