"""A small HTTP/1.1 client for the load test: keep-alive requests and Server-Sent Events.

The load generator shares two cores with the server and the database, so its
own cost per request must stay small: a request here is one write and a few
reads on an asyncio stream (tens of microseconds), where a general-purpose
client costs ten times that. It speaks just what the chat service answers:
``Content-Length`` or chunked bodies, and ``text/event-stream`` as chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Response:
    """A status, the headers (lower-case names) and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ClosedByServer(ConnectionError):
    """The server closed the connection before answering."""


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ClosedByServer("the connection closed before a response") from exc
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0][9:12])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _read_chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a chunked body (empty at its end)."""
    size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


class Connection:
    """One keep-alive connection to ``host:port``, re-opened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send one request and read its whole response."""
        data = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        elif method in ("POST", "PUT", "PATCH", "DELETE"):
            lines.append("Content-Length: 0")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        for attempt in (1, 2):  # a kept-alive connection the server closed: open a new one
            reader, writer = await self._open()
            try:
                writer.write(message)
                status, answer = await _read_head(reader)
                payload = await self._read_body(reader, answer)
            except (ClosedByServer, ConnectionResetError, BrokenPipeError):
                await self.close()
                if attempt == 2:
                    raise
                continue
            if answer.get("connection") == "close":
                await self.close()
            return Response(status, answer, payload)
        raise AssertionError("unreachable")

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while chunk := await _read_chunk(reader):
                parts.append(chunk)
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        return b""

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        await _close(writer)


@dataclass(frozen=True)
class ServerSentEvent:
    """One event of a stream: its id (the log position), type and raw data."""

    id: int | None
    type: str
    data: str


class EventStream:
    """``GET /events`` held open: :meth:`events` yields what arrives until closed."""

    def __init__(self, host: str, port: int, token: str, last_event_id: int | None) -> None:
        self.host, self.port = host, port
        self.token = token
        self.last_event_id = last_event_id
        self.status = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> int:
        """Connect and read the response head; returns its status."""
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        lines = [
            "GET /events HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Authorization: Bearer {self.token}",
            "Accept: text/event-stream",
        ]
        if self.last_event_id is not None:
            lines.append(f"Last-Event-ID: {self.last_event_id}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.status, _ = await _read_head(self._reader)
        return self.status

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        """Events as they arrive (heartbeats skipped); ends when the server ends the stream."""
        assert self._reader is not None, "open() first"
        pending = b""
        while chunk := await _read_chunk(self._reader):
            pending += chunk
            *blocks, pending = pending.split(b"\n\n")
            for block in blocks:
                event = _parse(block)
                if event is not None:
                    yield event

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        await _close(writer)


def _parse(block: bytes) -> ServerSentEvent | None:
    event_id: int | None = None
    kind = "message"
    data: list[str] = []
    for line in block.decode().split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            event_id = int(value)
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)
    if event_id is None and not data:
        return None
    return ServerSentEvent(event_id, kind, "\n".join(data))
