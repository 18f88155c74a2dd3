"""Server-Sent Events: live domain events for browsers, resumable, authorized, bounded.

>>> streams = EventStreams(db)
>>> app.add_api_route(
...     "/events",
...     streams.endpoint(authorize=can_see, current_user=current_user),
...     response_class=EventStreamResponse,
... )
>>> # at shutdown (lifespan): await streams.close()

Each event is sent as ``id: <global position>``, ``event: <type>``, ``data:
<json>``. A client that reconnects with ``Last-Event-ID`` (``EventSource`` does
it by itself; a ``?last_event_id=`` query parameter works too) first gets every
event it missed, read from the store, then live ones, with no gap and no
duplicate. ``authorize(user, event)`` decides what each user sees. Idle streams
get a heartbeat comment every ``heartbeat`` seconds. A client that cannot keep
up (its buffer of ``max_buffer`` events fills, or one write stalls for
``send_timeout`` seconds) gets a final ``event: resume`` telling it where to
resume, and is disconnected (G14). One tailing reader per :class:`EventStreams`
serves every connection of the process; on PostgreSQL, ``NOTIFY`` makes events
appended by other processes arrive at once.

Why our own ASGI response rather than ``sse-starlette`` or ``fastapi.sse``:
both stream an async iterator per connection and bring their own ping and
disconnect tasks, while what matters here sits between the fan-out and the
socket — one wait that ends on "frames buffered", "heartbeat due", "client
gone" or "overflowed"; all buffered frames written in one ``send``; a deadline
on each write so a stalled socket cannot pin the connection; and the final
resume event. That is a small loop over the raw ASGI ``send`` (below), and it
adds no dependency. A server waits for open responses before it shuts down:
call :meth:`EventStreams.end_on_signals` in the lifespan startup, and every
stream gets ``event: resume`` the moment SIGTERM arrives, then
:meth:`EventStreams.close` in the lifespan shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import threading
from collections.abc import Awaitable, Callable, Collection, Sequence
from types import FrameType
from typing import Any

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lamina.domain.entity import utcnow
from lamina.domain.errors import InvalidInput, RateLimited
from lamina.events.feed import EventFeed
from lamina.events.live import (
    Authorize,
    ConnectionInfo,
    Credential,
    LiveConnection,
    LiveHub,
    LiveStats,
    TooManyConnections,
)
from lamina.events.registry import EventDecodeError
from lamina.events.stored import StoredEvent
from lamina.events.tasks import cancel_and_wait
from lamina.persistence.database import Database

EventData = Callable[[StoredEvent], Any]
"""What goes into an event's ``data:`` line (JSON-encoded); called once per event."""

HEARTBEAT = b": heartbeat\n\n"

logger = logging.getLogger("lamina.events")

SHUTDOWN = "shutdown"
"""Why :meth:`EventStreams.end_all` ended a connection."""


def default_event_data(event: StoredEvent) -> dict[str, Any]:
    """Type, stream, version, payload (upcast to the current schema when the class is known)."""
    try:
        payload = event.decode().payload()
    except EventDecodeError:
        payload = event.payload
    return {
        "position": event.position,
        "type": event.event_type,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "payload": payload,
        "recorded_at": event.recorded_at.isoformat(),
    }


def _line_safe(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def sse_renderer(data: EventData) -> Callable[[StoredEvent], bytes]:
    """A function framing an event as SSE bytes, with ``data`` deciding the JSON body."""

    def render(event: StoredEvent) -> bytes:
        body = json.dumps(data(event), separators=(",", ":"), default=str)
        kind = _line_safe(event.event_type)
        return f"id: {event.position}\nevent: {kind}\ndata: {body}\n\n".encode()

    return render


_POSITION = re.compile(r"[0-9]{1,18}")  # ASCII digits, within a 64-bit position


def parse_last_event_id(value: str | None) -> int | None:
    """The position a client resumes after; None for none. Raises :class:`InvalidInput`."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if _POSITION.fullmatch(text) is None:
        raise InvalidInput.for_field("Last-Event-ID", "must be an event position (an integer)")
    return int(text)


class _Stalled(Exception):
    """A write to the client did not finish within the send timeout."""


CredentialCheck = Callable[[Collection[str]], Awaitable[Collection[str]]]
"""Given the credential keys of open streams, the ones no longer valid (revoked, unknown)."""


class EventStreams:
    """The live event streams of an app: one shared reader, the connection registry, stats.

    ``max_buffer``: events buffered per connection before it is dropped;
    ``heartbeat``: idle seconds between heartbeats; ``send_timeout``: seconds a
    single write may take; ``retry_ms``: the reconnect delay suggested to clients;
    ``data``: the JSON body of each event (default :func:`default_event_data`).

    A stream opened with a :class:`~lamina.events.Credential` ends when it
    expires, and, with ``credentials`` (for instance
    ``TokenStore.invalid_among``), within ``check_every`` seconds of its
    revocation (G16): its last message is ``event: unauthorized`` with the
    reason. ``max_per_user`` caps the streams one user holds in this process
    (429 beyond it).
    """

    def __init__(
        self,
        db: Database,
        *,
        feed: EventFeed | None = None,
        data: EventData = default_event_data,
        max_buffer: int = 256,
        heartbeat: float = 15.0,
        send_timeout: float = 10.0,
        retry_ms: int = 2000,
        credentials: CredentialCheck | None = None,
        check_every: float = 2.0,
        max_per_user: int | None = None,
    ) -> None:
        self.hub = LiveHub(
            db, sse_renderer(data), feed=feed, max_buffer=max_buffer, max_per_user=max_per_user
        )
        self.heartbeat = heartbeat
        self.send_timeout = send_timeout
        self.retry_ms = retry_ms
        self.credentials = credentials
        self.check_every = check_every
        self._checker: asyncio.Task[None] | None = None

    @property
    def stats(self) -> LiveStats:
        """Counters: open and total connections, events sent, heartbeats, slow disconnects."""
        return self.hub.stats

    def connections(self) -> list[ConnectionInfo]:
        """The open connections: user, connected since, last event id, events sent."""
        return self.hub.connections()

    async def close(self) -> None:
        """End every stream and stop the shared reader (at shutdown)."""
        if self._checker is not None:
            await cancel_and_wait(self._checker)
            self._checker = None
        await self.hub.stop()

    def end_all(self) -> None:
        """End every open stream with ``event: resume`` (reason ``server_shutdown``): clients
        reconnect, with ``Last-Event-ID``, to another worker or to this one once restarted."""
        for conn in self.hub.open_connections():
            conn.end(SHUTDOWN)

    def end_on_signals(
        self, signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
    ) -> Callable[[], None]:
        """On ``signals``, :meth:`end_all` first, then whatever handled them before (the
        server's own shutdown). Call it in the app's lifespan startup; it returns the
        function that puts the previous handlers back (call it at shutdown).

        A server waits for open responses before it stops, and a stream never ends by
        itself: without this, a restart would wait for its grace period, then cut
        the streams off mid-transfer.
        """
        loop = asyncio.get_running_loop()
        previous: dict[signal.Signals, Any] = {}

        def handle(number: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(self.end_all)
            before = previous.get(signal.Signals(number))
            if callable(before):
                before(number, frame)

        if threading.current_thread() is not threading.main_thread():
            return lambda: None  # signals reach the main thread only (a test server in a thread)
        for sig in signals:
            previous[sig] = signal.signal(sig, handle)

        def restore() -> None:
            for sig, before in previous.items():
                signal.signal(sig, before)

        return restore

    async def check_credentials(self) -> None:
        """End the streams whose credential expired or, asked of ``credentials``, was revoked.

        Runs every ``check_every`` seconds while streams are open; callable directly.
        """
        now = utcnow()
        held: dict[str, list[LiveConnection]] = {}
        for conn in self.hub.open_connections():
            credential = conn.credential
            if credential is None or conn.closed:
                continue
            if credential.expires_at is not None and credential.expires_at <= now:
                conn.end("expired")
            else:
                held.setdefault(credential.key, []).append(conn)
        if self.credentials is None or not held:
            return
        for key in await self.credentials(list(held)):
            for conn in held.get(key, ()):
                conn.end("revoked")

    async def _check_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            try:
                await self.check_credentials()
            except Exception:  # a database hiccup: the next round checks again
                logger.warning("could not check the credentials of open streams", exc_info=True)

    def endpoint(
        self,
        *,
        authorize: Authorize,
        current_user: Callable[..., Any] | None = None,
        user_label: Callable[[Any], str] = str,
        credential: Callable[[Any], Credential | None] | None = None,
    ) -> Callable[..., Awaitable[Response]]:
        """A FastAPI endpoint streaming the events ``authorize(user, event)`` allows.

        ``current_user`` is a FastAPI dependency returning whatever ``authorize``
        needs (a user, or a user plus the scope taken from path parameters); by
        default the user is None. ``user_label`` names the user in the registry;
        ``credential`` gives what the stream was opened with (for lamina's
        ``Principal``: ``lambda p: p.credential``).
        """

        def anonymous() -> None:
            return None

        dependency = current_user if current_user is not None else anonymous

        async def stream_events(request: Request, user: Any = Depends(dependency)) -> Response:
            raw = request.headers.get("last-event-id")
            if raw is None:
                raw = request.query_params.get("last_event_id")
            after = parse_last_event_id(raw)
            held = credential(user) if credential is not None else None
            return EventStreamResponse(self, user, authorize, after, user_label(user), held)

        return stream_events

    async def serve(
        self,
        user: Any,
        authorize: Authorize,
        after: int | None,
        label: str,
        receive: Receive,
        send: Send,
        headers: list[tuple[bytes, bytes]],
        credential: Credential | None = None,
    ) -> None:
        """Run one stream over ASGI ``receive`` / ``send`` (what the response calls).

        Raises :class:`~lamina.domain.RateLimited` (before anything is sent)
        when the user holds ``max_per_user`` streams already.
        """
        try:
            conn = await self.hub.open(
                user, authorize=authorize, after=after, user_label=label, credential=credential
            )
        except TooManyConnections:
            raise RateLimited(
                f"at most {self.hub.max_per_user} open streams per user; close one first",
                retry_after=max(1, round(self.retry_ms / 1000)),
            ) from None
        if self._checker is None and (self.credentials is not None or credential is not None):
            self._checker = asyncio.create_task(self._check_periodically())
        watcher = asyncio.create_task(_watch_disconnect(receive, conn))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._write(send, f"retry: {self.retry_ms}\n\n".encode())
            async with contextlib.aclosing(self.hub.replay(conn)) as missed:
                async for frames in missed:
                    await self._write(send, b"".join(frame for _, frame in frames))
                    self.hub.sent(conn, frames)
            await self._stream_live(conn, send)
            if conn.ended == SHUTDOWN:
                await self._write(send, self._resume_frame(conn, "server_shutdown"))
            elif conn.ended is not None:
                await self._write(send, self._ended_frame(conn))
            await self._write(send, b"", more=False)
        except _Stalled:
            self.hub.drop_slow(conn)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.hub.close(conn)

    async def _stream_live(self, conn: LiveConnection, send: Send) -> None:
        while not conn.closed:
            frames = await conn.next_frames(self.heartbeat)
            if conn.overflowed:
                self.hub.drop_slow(conn)
                await self._write(send, self._resume_frame(conn))
                return
            if frames:
                await self._write(send, b"".join(frame for _, frame in frames))
                self.hub.sent(conn, frames)
            elif not conn.closed:
                await self._write(send, HEARTBEAT)
                self.hub.heartbeat_sent()

    @staticmethod
    def _ended_frame(conn: LiveConnection) -> bytes:
        data = json.dumps({"reason": conn.ended, "last_event_id": conn.last_event_id})
        return f"event: unauthorized\ndata: {data}\n\n".encode()

    def _resume_frame(self, conn: LiveConnection, reason: str = "slow_consumer") -> bytes:
        data = json.dumps({"reason": reason, "last_event_id": conn.last_event_id})
        return f"retry: {self.retry_ms}\nevent: resume\ndata: {data}\n\n".encode()

    async def _write(self, send: Send, body: bytes, *, more: bool = True) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await send({"type": "http.response.body", "body": body, "more_body": more})
        except TimeoutError:
            raise _Stalled from None


async def _watch_disconnect(receive: Receive, conn: LiveConnection) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            conn.close()
            return


class EventStreamResponse(Response):
    """The ``text/event-stream`` response of one client (made by :meth:`EventStreams.endpoint`).

    Also the ``response_class`` to declare on the route, for the OpenAPI document.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        streams: EventStreams | None = None,
        user: Any = None,
        authorize: Authorize | None = None,
        after: int | None = None,
        label: str = "",
        credential: Credential | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(
            {
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "x-accel-buffering": "no",
            }
        )
        self._streams = streams
        self._user = user
        self._authorize = authorize
        self._after = after
        self._label = label
        self._credential = credential

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._streams is None or self._authorize is None:
            raise RuntimeError("an EventStreamResponse is made by EventStreams.endpoint()")
        await self._streams.serve(
            self._user,
            self._authorize,
            self._after,
            self._label,
            receive,
            send,
            self.raw_headers,
            self._credential,
        )
