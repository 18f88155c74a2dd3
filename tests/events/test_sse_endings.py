"""Streams the server ends: a revoked or expired credential (G16), shutdown; a per-user cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from events_testkit import SSEMessage, eventually, publish_ticks, sse_messages
from fastapi import FastAPI, Header

from lamina.api import install
from lamina.api.sse import EventStreamResponse, EventStreams
from lamina.domain import utcnow
from lamina.events import Credential, StoredEvent
from lamina.persistence import Database
from server_kit import serve_in_process

CHECK_EVERY = 0.1


@dataclass(frozen=True)
class Caller:
    name: str
    token: str | None
    expires_at: datetime | None


def caller(
    x_user: str = Header(default="ann"),
    x_token: str | None = Header(default=None),
    x_expires_in: float | None = Header(default=None),
) -> Caller:
    expires = utcnow() + timedelta(seconds=x_expires_in) if x_expires_in is not None else None
    return Caller(x_user, x_token, expires)


def credential_of(user: Caller) -> Credential | None:
    return Credential(user.token, user.expires_at) if user.token else None


def everything(user: Caller, event: StoredEvent) -> bool:
    return True


@asynccontextmanager
async def guarded_app(
    db: Database, revoked: set[str], **options: int
) -> AsyncIterator[tuple[httpx.AsyncClient, EventStreams]]:
    async def invalid(keys: Collection[str]) -> set[str]:
        return set(keys) & revoked

    streams = EventStreams(db, credentials=invalid, check_every=CHECK_EVERY, **options)
    app = FastAPI()
    install(app)
    app.add_api_route(
        "/events",
        streams.endpoint(
            authorize=everything,
            current_user=caller,
            user_label=lambda user: user.name,
            credential=credential_of,
        ),
        response_class=EventStreamResponse,
    )
    async with serve_in_process(app, lifespan="off") as base:
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                yield client, streams
        finally:
            await streams.close()


async def read_all(client: httpx.AsyncClient, headers: dict[str, str]) -> list[SSEMessage]:
    """Every message of one stream, until the server ends it."""
    async with client.stream("GET", "/events", headers=headers) as response:
        assert response.status_code == 200
        return [message async for message in sse_messages(response)]


async def cancel(*tasks: asyncio.Task[list[SSEMessage]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def until_open(streams: EventStreams, count: int) -> None:
    await eventually(lambda: len(streams.connections()) >= count)


async def test_g16_a_revoked_credential_ends_its_stream_with_a_reason(db: Database) -> None:
    revoked: set[str] = set()
    async with guarded_app(db, revoked) as (client, streams):
        kept = asyncio.create_task(read_all(client, {"X-User": "bob", "X-Token": "t-bob"}))
        ending = asyncio.create_task(read_all(client, {"X-Token": "t-ann"}))
        await until_open(streams, 2)
        await publish_ticks(db, 1)
        revoked.add("t-ann")
        async with asyncio.timeout(CHECK_EVERY * 20):
            messages = await ending
        [unauthorized] = [m for m in messages if m.event == "unauthorized"]
        assert unauthorized.json()["reason"] == "revoked"
        assert messages[-1] is unauthorized
        assert [c.user for c in streams.connections()] == ["bob"]  # the other stream goes on
        await cancel(kept)


async def test_g16_an_expired_credential_ends_its_stream(db: Database) -> None:
    async with guarded_app(db, set()) as (client, streams):
        async with asyncio.timeout(5):
            messages = await read_all(client, {"X-Token": "t", "X-Expires-In": "0.3"})
    assert [m.json()["reason"] for m in messages if m.event == "unauthorized"] == ["expired"]
    assert streams.connections() == []


async def test_a_user_holds_at_most_max_per_user_streams(db: Database) -> None:
    async with guarded_app(db, set(), max_per_user=2) as (client, streams):
        first = asyncio.create_task(read_all(client, {"X-User": "ann"}))
        second = asyncio.create_task(read_all(client, {"X-User": "ann"}))
        await until_open(streams, 2)

        refused = await client.get("/events", headers={"X-User": "ann"})
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/rate-limited")
        assert int(refused.headers["retry-after"]) >= 1

        other = asyncio.create_task(read_all(client, {"X-User": "bob"}))
        await until_open(streams, 3)  # another user is not affected
        await cancel(first)
        await eventually(lambda: len(streams.connections()) == 2)
        again = asyncio.create_task(read_all(client, {"X-User": "ann"}))
        await until_open(streams, 3)  # a closed stream frees its place
        await cancel(second, other, again)


async def test_end_all_tells_every_stream_to_resume(db: Database) -> None:
    async with guarded_app(db, set()) as (client, streams):
        reading = [asyncio.create_task(read_all(client, {"X-User": n})) for n in ("ann", "bob")]
        await until_open(streams, 2)
        await publish_ticks(db, 2)
        await eventually(lambda: all(c.last_event_id for c in streams.connections()))
        streams.end_all()
        async with asyncio.timeout(5):
            endings = await asyncio.gather(*reading)
    for messages in endings:
        [resume] = [m for m in messages if m.event == "resume"]
        assert resume.json()["reason"] == "server_shutdown"
        assert resume.json()["last_event_id"] == max(int(m.id) for m in messages if m.id)
        assert resume.retry == 2000
