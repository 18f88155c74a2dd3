"""Resource routers behind lamina's real authentication: bearer tokens, Principal, OwnedBy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field
from sqlalchemy import String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import (
    ApiSettings,
    install,
    problem_responses,
    provide_service,
    resource_router,
)
from lamina.domain import READ_ONLY, Entity, Timestamped, Versioned, uuid7
from lamina.persistence import Database, Repository, StandardColumns, new_metadata
from lamina.security import Authenticator, Principal, TokenStore
from lamina.service import OwnedBy, Service


class Note(Timestamped, Versioned, Entity):
    owner_id: Annotated[UUID, READ_ONLY]
    text: Annotated[str, Field(min_length=1, max_length=500)]


class Rows(DeclarativeBase):
    metadata = new_metadata()


class NoteRow(StandardColumns, Rows):
    __tablename__ = "rt_notes"
    owner_id: Mapped[UUID] = mapped_column(Uuid(), index=True)
    text: Mapped[str] = mapped_column(String(500))


class Notes(Repository[Note, NoteRow]):
    filterable = ("text",)


class NoteService(Service[Note, Principal]):
    repository = Notes
    scope = OwnedBy("owner_id")

    def new_entity(self, values: Any) -> Note:
        return super().new_entity({**values, "owner_id": self.principal.user_id})


@pytest.fixture
async def setup(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, TokenStore]]:
    db = Database(db_url, secret_key="tokens-test")
    await db.drop_all(Rows.metadata)
    await db.create_all(Rows.metadata)
    tokens = TokenStore(db)
    auth = Authenticator(tokens)
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    notes = provide_service(NoteService, db, auth.current_principal)
    app.include_router(
        resource_router(NoteService, provide=notes, path="/notes", responses=problem_responses(401))
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, tokens
    finally:
        await db.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_g10_owned_rows_behind_bearer_tokens(
    setup: tuple[httpx.AsyncClient, TokenStore],
) -> None:
    client, tokens = setup
    alice, bob = uuid7(), uuid7()
    alice_token = (await tokens.issue(alice)).token
    bob_token = (await tokens.issue(bob)).token

    created = await client.post("/notes", json={"text": "hi"}, headers=bearer(alice_token))
    assert created.status_code == 201, created.text
    note = created.json()
    assert (note["owner_id"], note["created_at"] is not None) == (str(alice), True)
    url = f"/notes/{note['id']}"

    assert (await client.get(url, headers=bearer(alice_token))).status_code == 200
    assert (await client.get(url, headers=bearer(bob_token))).status_code == 404
    assert (await client.get("/notes", headers=bearer(bob_token))).json()["items"] == []
    stolen = await client.patch(
        url, json={"text": "mine"}, headers={**bearer(bob_token), "If-Match": '"1"'}
    )
    assert stolen.status_code == 404
    planted = await client.post(
        "/notes", json={"text": "x", "owner_id": str(alice)}, headers=bearer(bob_token)
    )
    assert planted.status_code == 422

    assert (await client.get(url)).status_code == 401
    await tokens.revoke(alice_token)
    assert (await client.get(url, headers=bearer(alice_token))).status_code == 401
