"""Real servers for tests: an app on a real socket in this event loop, and free ports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from sqlalchemy import MetaData, text

from lamina.persistence import Database


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def serve_in_process(app: Any, **config: Any) -> AsyncIterator[str]:
    """Run ``app`` with uvicorn on a free port in this event loop; yields its base URL.

    ``config`` adds uvicorn settings (e.g. ``lifespan="off"``). Idle connections are kept
    for two minutes, not uvicorn's five seconds: a test's client that waited that long (its
    turn among many logging in on a slow machine) would otherwise send its next request as
    the server closes the connection, and read nothing back (``httpx.ReadError``).
    """
    settings = {
        "host": "127.0.0.1",
        "port": 0,
        "log_level": "warning",
        "timeout_keep_alive": 120,
        **config,
    }
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def reset_app_tables(url: str, metadata: MetaData) -> None:
    """Empty an app's tables (``metadata``) and lamina's on ``url``, and forget any migration
    state, so each test starts from a fresh schema."""
    db = Database(url)
    try:
        await db.drop_all(metadata)
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await db.create_all(metadata)
    finally:
        await db.close()
