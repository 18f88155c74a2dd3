"""A tiny lamina app serving live events, run by the tests in uvicorn subprocesses.

Configured from the environment: ``SSE_APP_DATABASE_URL`` and ``SSE_APP_SETTINGS``
(JSON: ``heartbeat``, ``max_buffer``, ``send_timeout``, ``poll_interval``).

``GET /events``   the stream; the ``X-User`` header names the user, who sees
                  Tick events whose ``audience`` is empty or equal to the user.
``POST /ticks``   ``{"n": 1, "channel": "c", "blob": ""}``: appends one Tick.
``GET /stats``    stream counters, open connections and this process's RSS.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psutil
from events_testkit import Tick
from fastapi import FastAPI, Header
from pydantic import BaseModel

from lamina.api import install
from lamina.api.sse import EventStreamResponse, EventStreams
from lamina.events import EventFeed, EventNotifier, StoredEvent
from lamina.persistence import Database

settings: dict[str, Any] = json.loads(os.environ.get("SSE_APP_SETTINGS") or "{}")
db = Database(os.environ["SSE_APP_DATABASE_URL"])
notifier = EventNotifier(db)
feed = EventFeed(
    db,
    notifier=notifier,
    poll_interval=settings.get("poll_interval", 1.0),
    batch_size=settings.get("max_buffer", 256),
)
streams = EventStreams(
    db,
    feed=feed,
    heartbeat=settings.get("heartbeat", 15.0),
    max_buffer=settings.get("max_buffer", 256),
    send_timeout=settings.get("send_timeout", 10.0),
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await feed.start()
    yield
    await streams.close()
    await feed.stop()
    await notifier.stop()
    await db.close()


app = FastAPI(lifespan=lifespan)
install(app)


def current_user(x_user: str | None = Header(default=None)) -> str | None:
    return x_user


def may_see(user: str | None, event: StoredEvent) -> bool:
    audience = event.payload.get("audience")
    return audience is None or audience == user


app.add_api_route(
    "/events",
    streams.endpoint(authorize=may_see, current_user=current_user, user_label=str),
    response_class=EventStreamResponse,
)


class TickIn(BaseModel):
    n: int
    channel: str = "c"
    blob: str = ""


@app.post("/ticks", status_code=204)
async def add_tick(tick: TickIn) -> None:
    async with db.unit_of_work() as uow:
        uow.publish(Tick(channel=tick.channel, n=tick.n, blob=tick.blob))


@app.get("/stats")
async def stats() -> dict[str, Any]:
    counters = streams.stats
    return {
        "connections_open": counters.connections_open,
        "events_sent": counters.events_sent,
        "slow_disconnects": counters.slow_disconnects,
        "heartbeats_sent": counters.heartbeats_sent,
        "connections": [c.model_dump(mode="json") for c in streams.connections()],
        "rss": psutil.Process().memory_info().rss,
        "listening": notifier.listening,
        "feed_position": feed.position,
    }
