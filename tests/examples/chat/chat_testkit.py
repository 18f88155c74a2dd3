"""Helpers of the chat service tests: a real server, users with tokens, SSE readers.

Every test talks HTTP to the real app: in this event loop on a real socket
(:func:`serving`) or in uvicorn subprocesses (:func:`server_process`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from examples.chat.app import ChatSettings, create_app
from examples.chat.rows import ChatBase

from lamina.security import Argon2Parameters
from server_kit import free_port, reset_app_tables, serve_in_process

REPO = Path(__file__).resolve().parents[3]
SECRET = "chat-tests-secret"
FAST_PASSWORDS = Argon2Parameters(time_cost=1, memory_cost_kib=1024, parallelism=1)
PASSWORD = "correct horse battery"
TIMEOUT = 10.0

T = TypeVar("T")


async def reset_database(url: str) -> None:
    """Empty chat and lamina tables on ``url`` (and forget any migration state)."""
    await reset_app_tables(url, ChatBase.metadata)


def server_settings(url: str, **changes: Any) -> ChatSettings:
    """Settings for a test server: cheap password hashing, no access log, no registration
    limit (the tests register many users from one address), and ``changes``."""
    defaults = {
        "password_cost": FAST_PASSWORDS,
        "access_log": False,
        "registrations_per_hour": None,
    }
    return ChatSettings(database_url=url, secret_key=SECRET, **(defaults | changes))


def serving(url: str, **changes: Any) -> contextlib.AbstractAsyncContextManager[str]:
    """The chat app on ``url``, served on a real socket in this event loop; its base URL."""
    app = create_app(server_settings(url, **changes))
    return serve_in_process(app, timeout_graceful_shutdown=1)


def wait_until_up(base: str, process: subprocess.Popen[Any], seconds: float = 30) -> None:
    """Block until ``base``/healthz answers 200 (raise if the process dies or it takes long)."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server process (SIGTERM, then SIGKILL after a grace period)."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main_env(port: int, **variables: str | None) -> dict[str, str]:
    """Environment for :func:`start_main`: this one with ``PORT``, ``PYTHONPATH`` and
    ``variables`` (``None`` removes one, e.g. ``LAMINA_DATABASE_URL=None``)."""
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(REPO)}
    for name, value in variables.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def start_main(
    folder: Path, env: dict[str, str], *, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """``python -m examples.chat`` in ``folder`` with ``env`` (its output: ``interrupt``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "examples.chat"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def interrupt(process: subprocess.Popen[str]) -> str:
    """Ctrl-C a server started by :func:`start_main`; what it printed."""
    process.send_signal(signal.SIGINT)
    try:
        printed, _ = process.communicate(timeout=20)
    finally:
        stop(process)
    return printed


@contextlib.contextmanager
def two_workers(url: str, folder: Path) -> Iterator[str]:
    """``python -m examples.chat`` with ``WORKERS=2`` on ``url``, run in ``folder``; its URL."""
    port = free_port()
    env = main_env(
        port,
        LAMINA_DATABASE_URL=url,
        LAMINA_SECRET_KEY="two-workers-test",
        LAMINA_DEMO="0",
        LAMINA_ACCESS_LOG="0",
        WORKERS="2",
    )
    process = start_main(folder, env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process, seconds=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        interrupt(process)


@contextlib.contextmanager
def server_process(url: str) -> Iterator[str]:
    """The chat app in a uvicorn subprocess (``app_from_env``) on ``url``; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "LAMINA_DATABASE_URL": url,
        "LAMINA_SECRET_KEY": SECRET,
        "LAMINA_ACCESS_LOG": "0",
        "PYTHONPATH": str(REPO),
    }
    command = [
        sys.executable, "-m", "uvicorn", "examples.chat.app:app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--timeout-graceful-shutdown", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=REPO)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


# ---------------------------------------------------------------- users


@dataclass
class ChatUser:
    """A registered, logged-in user: an HTTP client carrying its bearer token."""

    username: str
    id: str
    client: httpx.AsyncClient

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, url, **kwargs)

    async def ok(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        """The JSON of a call that must answer ``status``."""
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.status_code, response.text)
        return response.json() if response.content else None


@contextlib.asynccontextmanager
async def user_on(base: str, username: str, password: str = PASSWORD) -> AsyncIterator[ChatUser]:
    """Register ``username`` on the server at ``base`` (if needed) and log it in."""
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        await client.post(
            "/auth/register",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "display_name": username.capitalize(),
                "password": password,
            },
        )
        token = await client.post("/auth/token", data={"username": username, "password": password})
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        me = (await client.get("/users/me")).json()
        yield ChatUser(username, me["id"], client)


# ---------------------------------------------------------------- live events


@dataclass
class Received:
    """One event from the stream."""

    id: int
    type: str
    data: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.data["payload"])


@dataclass
class EventReader:
    """Reads ``GET /events`` of one user in the background, collecting its events."""

    base: str
    token: str
    last_event_id: int | None = None
    ticket: str | None = None
    """Open the stream as a browser does: ``?ticket=`` and no header."""
    events: list[Received] = field(default_factory=list)
    notices: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Messages without an id: the server's last word (``resume``, ``unauthorized``)."""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> EventReader:
        """Connect; returns once the server has answered (the stream is registered)."""
        connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._read(connected))
        await asyncio.wait_for(connected, TIMEOUT)
        return self

    async def _read(self, connected: asyncio.Future[None]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.ticket is None else {}
        params = {"ticket": self.ticket} if self.ticket is not None else {}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        try:
            async with (
                httpx.AsyncClient(base_url=self.base, timeout=None) as client,
                client.stream("GET", "/events", headers=headers, params=params) as response,
            ):
                assert response.status_code == 200, await response.aread()
                connected.set_result(None)
                fields: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
                        continue
                    if "id" in fields and "data" in fields:
                        data = json.loads(fields["data"])
                        self.events.append(Received(int(fields["id"]), fields["event"], data))
                        self._arrived.set()
                    elif "event" in fields and "data" in fields:  # resume, unauthorized
                        self.notices.append((fields["event"], json.loads(fields["data"])))
                    fields = {}
        except BaseException as exc:
            if not connected.done():
                connected.set_exception(exc)
            raise

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    async def wait_for(self, found: Callable[[Received], bool]) -> Received:
        """The first event ``found`` accepts, waiting for it to arrive."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                for event in self.events:
                    if found(event):
                        return event
                self._arrived.clear()
                await self._arrived.wait()

    async def ended(self) -> None:
        """Wait until the server ends the stream."""
        assert self._task is not None
        async with asyncio.timeout(TIMEOUT):
            await self._task

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def reading(base: str, user: ChatUser, **kwargs: Any) -> AsyncIterator[EventReader]:
    """An :class:`EventReader` of ``user`` on ``base``, closed at the end."""
    token = user.client.headers["Authorization"].removeprefix("Bearer ")
    reader = await EventReader(base, token, **kwargs).start()
    try:
        yield reader
    finally:
        await reader.close()


async def fence(user: ChatUser, reader: EventReader) -> int:
    """Make an event only ``user`` sees (a private workspace) and wait for it on ``reader``.

    Once it arrived, every event before it that ``reader`` may see has arrived
    too (a stream delivers in order), so the reader's list can be compared exactly.
    Returns the fence event's position.
    """
    created = await user.ok("POST", "/workspaces", 201, json={"name": f"fence of {user.username}"})
    event = await reader.wait_for(
        lambda e: e.type == "workspace.created" and e.payload["workspace_id"] == created["id"]
    )
    return event.id


async def eventually(read: Callable[[], Awaitable[T]], holds: Callable[[T], bool]) -> T:
    """``read()`` again until ``holds`` accepts what it gave (for projections that trail)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            value = await read()
            if holds(value):
                return value
            await asyncio.sleep(0.02)


def etag_of(response: httpx.Response) -> dict[str, str]:
    """``If-Match`` headers naming the version a response's ETag carries."""
    return {"If-Match": response.headers["ETag"]}
