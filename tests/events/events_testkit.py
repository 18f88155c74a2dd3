"""Event classes, tables and helpers shared by the event tests (and their subprocesses)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import Column, Integer, String, Table, Uuid, bindparam, insert, select

from lamina.domain import DomainEvent, EventPriority
from lamina.persistence import Database, UnitOfWork, new_metadata
from server_kit import free_port

HERE = Path(__file__).parent
REPO = HERE.parent.parent
SUBPROCESS_PATH = os.pathsep.join([str(HERE), str(HERE.parent), str(REPO / "src")])
"""PYTHONPATH for test subprocesses: this folder, the shared test kits and lamina."""


class NoteWritten(DomainEvent, type="test.note_written", stream="note_id"):
    note_id: UUID
    title: str


class Deposited(DomainEvent, type="test.deposited", stream="account"):
    account: str
    amount: int


class Withdrawn(DomainEvent, type="test.withdrawn", stream="account"):
    account: str
    amount: int


class Alarm(DomainEvent, type="test.alarm", stream="room", priority=EventPriority.CRITICAL):
    room: str


class Tick(DomainEvent, type="test.tick", stream="channel"):
    channel: str
    n: int
    audience: str | None = None
    blob: str = ""


metadata = new_metadata()

notes = Table(
    "ev_notes",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("title", String(200), nullable=False, unique=True),
)

balances = Table(
    "ev_balances",
    metadata,
    Column("account", String(50), primary_key=True),
    Column("balance", Integer(), nullable=False),
    Column("events", Integer(), nullable=False),
)


async def reset_schema(db: Database) -> None:
    """Drop and recreate lamina's tables and the test tables."""
    await db.drop_all(metadata)
    await db.create_all(metadata)


async def insert_note(uow: UnitOfWork, note_id: UUID, title: str) -> None:
    """Insert one ``ev_notes`` row in ``uow``'s transaction."""
    stmt = uow.statements.get(
        ("test", "notes", "insert"),
        lambda: insert(notes).values(id=bindparam("id", type_=Uuid()), title=bindparam("title")),
    )
    async with uow.connection() as conn:
        await stmt.execute(conn, {"id": note_id, "title": title})


async def note_titles(db: Database) -> list[str]:
    stmt = db.statements.get(
        ("test", "notes", "titles"), lambda: select(notes.c.title).order_by(notes.c.title)
    )
    async with db.connection() as conn:
        return [row["title"] for row in await stmt.fetch(conn, {})]


async def publish_ticks(
    db: Database,
    count: int,
    *,
    channel: str = "c",
    start: int = 0,
    per_transaction: int = 100,
    blob: str = "",
    audience: str | None = None,
) -> None:
    """Append ``count`` Tick events, ``per_transaction`` per unit of work."""
    n = start
    while n < start + count:
        async with db.unit_of_work() as uow:
            for _ in range(min(per_transaction, start + count - n)):
                uow.publish(Tick(channel=channel, n=n, blob=blob, audience=audience))
                n += 1


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until ``check()`` is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- SSE clients and servers


@dataclass
class SSEMessage:
    """One parsed SSE message (an event, a comment, or a retry hint)."""

    event: str | None = None
    id: str | None = None
    data: str = ""
    comment: str | None = None
    retry: int | None = None
    lines: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.data)

    def add_line(self, line: str) -> None:
        """Take in one non-empty line of this message."""
        self.lines.append(line)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "":
            self.comment = value
        elif name == "event":
            self.event = value
        elif name == "id":
            self.id = value
        elif name == "data":
            self.data = f"{self.data}\n{value}" if self.data else value
        elif name == "retry":
            self.retry = int(value)


async def sse_messages(response: httpx.Response) -> AsyncIterator[SSEMessage]:
    """Parse a streaming response into messages (each comment is a message of its own)."""
    current = SSEMessage()
    async for line in response.aiter_lines():
        if line == "":
            if current.lines:
                yield current
            current = SSEMessage()
            continue
        current.add_line(line)


@contextlib.contextmanager
def server_process(url: str, **settings: Any) -> Iterator[str]:
    """Run ``sse_app`` in a uvicorn subprocess on ``url``; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "SSE_APP_DATABASE_URL": url,
        "SSE_APP_SETTINGS": json.dumps(settings),
        "PYTHONPATH": SUBPROCESS_PATH,
    }
    command = [
        sys.executable, "-m", "uvicorn", "sse_app:app",
        "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--timeout-graceful-shutdown", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=HERE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/stats", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def parse_sse(body: bytes) -> list[SSEMessage]:
    """The messages of a raw SSE body (as read to the end of the stream)."""
    messages: list[SSEMessage] = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        current = SSEMessage()
        for line in block.split("\n"):
            if line:
                current.add_line(line)
        if current.lines:
            messages.append(current)
    return messages


def open_stalled_stream(base: str, *, user: str = "ann", rcvbuf: int = 4096) -> socket.socket:
    """A blocking socket that asked for ``/events`` (HTTP/1.0: no chunking) and reads nothing."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /events HTTP/1.0\r\nHost: {host}\r\nX-User: {user}\r\n\r\n".encode())
    return sock


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes, without the HTTP head."""
    chunks = []
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
    sock.close()
    _, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return body
