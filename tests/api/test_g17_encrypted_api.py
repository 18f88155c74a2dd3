"""G17 over HTTP: encrypted fields read and write as plaintext through the API, equality
filters go through the blind index, and a value that cannot be opened (missing key, tampered
or moved ciphertext) is a 503 problem+json naming the key, never plaintext or a trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import String, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.api import PROBLEM_MEDIA_TYPE, ApiSettings, install, provide_service, resource_router
from lamina.domain import ENCRYPTED, Entity, Timestamped, Versioned
from lamina.persistence import (
    Database,
    Keyring,
    Repository,
    StandardColumns,
    blind_index_column,
    encrypted_column,
    new_key,
    new_metadata,
)
from lamina.service import Service

KEYS = f"a={new_key()},index={new_key()}"
EMAIL = "grace@example.org"
NOTES = "prefers the night shift"


class Member(Timestamped, Versioned, Entity):
    name: str
    email: Annotated[str, ENCRYPTED]
    notes: Annotated[str | None, ENCRYPTED] = None


class Rows(DeclarativeBase):
    metadata = new_metadata()


class MemberRow(StandardColumns, Rows):
    __tablename__ = "g17_members"
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = encrypted_column()
    email_bidx: Mapped[str | None] = blind_index_column(unique=True)
    notes: Mapped[str | None] = encrypted_column(nullable=True)


class Members(Repository[Member, MemberRow]):
    filterable = ("name", "email", "notes")


class MemberService(Service[Member, None]):
    repository = Members
    anonymous_writes = True


async def anyone() -> None:
    """No authentication: these tests are about stored values, not access."""


def build_app(db: Database) -> FastAPI:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    provide = provide_service(MemberService, db, anyone)
    app.include_router(resource_router(MemberService, provide=provide, path="/members"))
    return app


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, keyring=Keyring.parse(KEYS))
    await database.drop_all(Rows.metadata)
    await database.create_all(Rows.metadata)
    yield database
    await database.close()


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(db), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert NOTES not in response.text
    assert EMAIL not in response.text
    body: dict[str, Any] = response.json()
    return body


async def create(client: httpx.AsyncClient, name: str, email: str) -> dict[str, Any]:
    response = await client.post("/members", json={"name": name, "email": email, "notes": NOTES})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_g17_the_api_reads_and_writes_plaintext_the_table_holds_none(
    client: httpx.AsyncClient, db: Database
) -> None:
    grace = await create(client, "Grace", EMAIL)
    assert (grace["email"], grace["notes"]) == (EMAIL, NOTES)

    got = (await client.get(f"/members/{grace['id']}")).json()
    assert (got["email"], got["notes"]) == (EMAIL, NOTES)
    async with db.engine.connect() as conn:
        raw = str((await conn.execute(text("SELECT * FROM g17_members"))).all())
    assert EMAIL not in raw
    assert NOTES not in raw


async def test_g17_equality_filters_use_the_blind_index_others_are_400(
    client: httpx.AsyncClient,
) -> None:
    grace = await create(client, "Grace", EMAIL)
    await create(client, "Alan", "alan@example.org")

    found = (await client.get("/members", params={"email": EMAIL})).json()["items"]
    assert [m["id"] for m in found] == [grace["id"]]
    assert problem(await client.get("/members", params={"notes": NOTES}), 400)["errors"]
    assert problem(await client.get("/members", params={"email__icontains": "grace"}), 400)
    assert problem(await client.get("/members", params={"sort": "email"}), 400)
    taken = problem(await client.post("/members", json={"name": "G2", "email": EMAIL}), 409)
    assert taken["fields"] == ["email"]


async def test_g17_a_moved_or_tampered_value_is_a_503_naming_the_key(
    client: httpx.AsyncClient, db: Database
) -> None:
    grace = await create(client, "Grace", EMAIL)
    alan = await create(client, "Alan", "alan@example.org")
    async with db.engine.begin() as conn:
        sealed = (
            await conn.execute(text("SELECT notes FROM g17_members WHERE name = 'Grace'"))
        ).scalar_one()
        await conn.execute(update(MemberRow).where(MemberRow.name == "Alan").values(notes=sealed))

    moved = problem(await client.get(f"/members/{alan['id']}"), 503)
    assert moved["type"].endswith("/decryption-failed")
    assert (moved["key_id"], moved["field"]) == ("a", "notes")
    assert problem(await client.get("/members"), 503)["key_id"] == "a"

    tampered = sealed[:-6] + ("x" if sealed[-6] != "x" else "y") + sealed[-5:]
    async with db.engine.begin() as conn:
        await conn.execute(
            update(MemberRow).where(MemberRow.name == "Grace").values(notes=tampered)
        )
    body = problem(await client.get(f"/members/{grace['id']}"), 503)
    assert body["type"].endswith("/decryption-failed")
    assert body["key_id"] == "a"


async def test_g17_a_value_under_a_missing_key_is_a_503_naming_the_key(
    client: httpx.AsyncClient, db_url: str
) -> None:
    grace = await create(client, "Grace", EMAIL)
    async with Database(db_url, keyring=Keyring.parse(f"b={new_key()}")) as rotated_away:
        transport = httpx.ASGITransport(app=build_app(rotated_away), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            body = problem(await other.get(f"/members/{grace['id']}"), 503)
    assert body["type"].endswith("/encryption-key-missing")
    assert body["key_id"] == "a"
    assert "'a'" in body["detail"]
