"""SSE on a real socket: delivery, resume, heartbeats, authorization, slow clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from events_testkit import (
    SSEMessage,
    open_stalled_stream,
    parse_sse,
    publish_ticks,
    read_to_end,
    sse_messages,
)
from fastapi import FastAPI, Header

from lamina.api import install
from lamina.api.sse import EventStreamResponse, EventStreams
from lamina.events import StoredEvent
from lamina.persistence import Database
from server_kit import serve_in_process


def may_see(user: str | None, event: StoredEvent) -> bool:
    audience = event.payload.get("audience")
    return audience is None or audience == user


def current_user(x_user: str | None = Header(default=None)) -> str | None:
    return x_user


@asynccontextmanager
async def live_app(db: Database, **options: float) -> AsyncIterator[tuple[str, EventStreams]]:
    streams = EventStreams(db, **options)  # type: ignore[arg-type]
    app = FastAPI()
    install(app)
    app.add_api_route(
        "/events",
        streams.endpoint(authorize=may_see, current_user=current_user),
        response_class=EventStreamResponse,
    )
    async with serve_in_process(app, lifespan="off") as base:
        try:
            yield base, streams
        finally:
            await streams.close()


async def collect(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    until: Callable[[list[SSEMessage]], bool],
    *,
    params: dict[str, str] | None = None,
    seconds: float = 5.0,
) -> list[SSEMessage]:
    """Open /events and gather messages until ``until(messages)`` is true."""
    messages: list[SSEMessage] = []
    async with (
        asyncio.timeout(seconds),
        client.stream("GET", "/events", headers=headers, params=params) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for message in sse_messages(response):
            messages.append(message)
            if until(messages):
                break
    return messages


def events_of(messages: list[SSEMessage]) -> list[SSEMessage]:
    return [m for m in messages if m.id is not None]


async def wait_connected(streams: EventStreams, count: int = 1) -> None:
    deadline = time.monotonic() + 5
    while len(streams.connections()) < count or any(c.buffered for c in streams.connections()):
        assert time.monotonic() < deadline, "client did not connect"
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # past the replay, into live delivery


async def test_live_events_reach_the_client_with_their_position_as_id(db: Database) -> None:
    async with (
        live_app(db, heartbeat=5) as (base, streams),
        httpx.AsyncClient(base_url=base) as client,
    ):
        reader = asyncio.create_task(
            collect(client, {"X-User": "ann"}, lambda ms: len(events_of(ms)) == 3)
        )
        await wait_connected(streams)
        [info] = streams.connections()
        assert info.user == "ann"
        await publish_ticks(db, 3, per_transaction=2)
        messages = await reader
        assert messages[0].retry == 2000
        received = events_of(messages)
        positions = [int(m.id or 0) for m in received]
        assert positions == sorted(set(positions))
        assert len(positions) == 3
        assert {m.event for m in received} == {"test.tick"}
        data = received[0].json()
        assert data["position"] == positions[0]
        assert data["payload"]["n"] == 0
        assert data["stream_id"] == "c"
        await asyncio.sleep(0.1)
        assert streams.connections() == []  # the client went away: unregistered
        assert streams.stats.connections_total == 1
        assert streams.stats.events_sent == 3


async def test_resume_with_last_event_id_replays_exactly_the_missed_events(
    db: Database,
) -> None:
    async with (
        live_app(db, heartbeat=5) as (base, streams),
        httpx.AsyncClient(base_url=base) as client,
    ):
        first = asyncio.create_task(
            collect(client, {"X-User": "ann"}, lambda ms: len(events_of(ms)) == 2)
        )
        await wait_connected(streams)
        await publish_ticks(db, 2)
        seen = events_of(await first)
        last_id = seen[-1].id
        assert last_id is not None

        await publish_ticks(db, 4, start=2, per_transaction=3)  # missed while away
        resumed = asyncio.create_task(
            collect(
                client,
                {"X-User": "ann", "Last-Event-ID": last_id},
                lambda ms: len(events_of(ms)) == 5,
            )
        )
        await wait_connected(streams)
        await publish_ticks(db, 1, start=6)  # live after the replay
        again = events_of(await resumed)
        assert [m.json()["payload"]["n"] for m in again] == [2, 3, 4, 5, 6]
        assert int(again[0].id or 0) > int(last_id)

        by_query = await collect(
            client,
            {"X-User": "ann"},
            lambda ms: len(events_of(ms)) == 5,
            params={"last_event_id": last_id},
        )
        assert [m.json()["payload"]["n"] for m in events_of(by_query)] == [2, 3, 4, 5, 6]


async def test_heartbeats_arrive_when_idle(db: Database) -> None:
    async with (
        live_app(db, heartbeat=0.1) as (base, streams),
        httpx.AsyncClient(base_url=base) as client,
    ):
        started = time.monotonic()
        messages = await collect(
            client, {}, lambda ms: sum(m.comment == "heartbeat" for m in ms) == 3
        )
        assert 0.25 < time.monotonic() - started < 2
        assert events_of(messages) == []
        assert streams.stats.heartbeats_sent >= 3


async def test_a_client_only_receives_what_the_predicate_allows(db: Database) -> None:
    async with (
        live_app(db, heartbeat=5) as (base, streams),
        httpx.AsyncClient(base_url=base) as client,
    ):
        ann = asyncio.create_task(
            collect(client, {"X-User": "ann"}, lambda ms: len(events_of(ms)) == 2)
        )
        await wait_connected(streams)
        await publish_ticks(db, 1, start=0, audience="bob")
        await publish_ticks(db, 1, start=1, audience="ann")
        await publish_ticks(db, 1, start=2)
        got = [m.json()["payload"] for m in events_of(await ann)]
        assert [(p["n"], p["audience"]) for p in got] == [(1, "ann"), (2, None)]

        replayed = await collect(
            client,
            {"X-User": "bob", "Last-Event-ID": "0"},
            lambda ms: len(events_of(ms)) == 2,
        )
        assert [m.json()["payload"]["n"] for m in events_of(replayed)] == [0, 2]


async def test_a_bad_last_event_id_is_a_400_problem(db: Database) -> None:
    async with live_app(db) as (base, _), httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/events", headers={"Last-Event-ID": "abc"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "Last-Event-ID"


async def test_g14_a_stalled_client_is_dropped_and_told_where_to_resume(db: Database) -> None:
    """A client that stops reading overflows its buffer: it is cut off, with a resume event
    once it reads again, and resuming from there gets the rest: every event exactly once."""
    total = 1500
    async with live_app(db, heartbeat=5, max_buffer=8, send_timeout=10) as (base, streams):
        sock = open_stalled_stream(base)
        await wait_connected(streams)
        await publish_ticks(db, total, blob="x" * 4000)
        deadline = time.monotonic() + 10
        while streams.stats.slow_disconnects == 0:
            assert time.monotonic() < deadline, "the stalled client was never dropped"
            assert all(c.buffered <= 8 for c in streams.connections())
            await asyncio.sleep(0.01)

        messages = parse_sse(await asyncio.to_thread(read_to_end, sock))
        received = [int(m.id) for m in messages if m.id is not None]
        final = messages[-1]
        assert final.event == "resume"
        assert final.json() == {"reason": "slow_consumer", "last_event_id": received[-1]}
        assert len(received) < total
        assert streams.connections() == []

        async with httpx.AsyncClient(base_url=base) as client:
            rest = await collect(
                client,
                {"X-User": "ann", "Last-Event-ID": str(received[-1])},
                lambda ms: len(events_of(ms)) == total - len(received),
            )
        everything = received + [int(m.id or 0) for m in events_of(rest)]
        assert len(everything) == total
        assert everything == sorted(set(everything))
