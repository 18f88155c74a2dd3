"""Fixtures of the security tests: a fresh schema per test and an HTTP client on the test app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from auth_app import AuthTestBase, ClientFactory, MutableClock
from fastapi import FastAPI

from lamina.persistence import Database


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` with lamina's tables and the test app's accounts, all empty."""
    database = Database(db_url, secret_key="security-test-secret")
    await database.drop_all(AuthTestBase.metadata)
    await database.create_all(AuthTestBase.metadata)
    yield database
    await database.close()


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def client_for() -> ClientFactory:
    """``async with client_for(app, address=...) as client``: httpx over ASGI from ``address``."""

    @asynccontextmanager
    async def open_client(
        app: FastAPI, address: str = "127.0.0.1"
    ) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=(address, 50000)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c

    return open_client
