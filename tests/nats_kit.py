"""Helpers of the NATS relay tests (framework and chat): unique JetStream streams, reading
a stream back, a relay subprocess, a private nats-server."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from uuid import uuid4

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from lamina.events.wire import position_of
from server_kit import free_port

NATS_SERVER = "/usr/sbin/nats-server"
LAMINA = str(Path(sys.executable).parent / "lamina")
TESTS = Path(__file__).parent
SUBPROCESS_PATH = os.pathsep.join([str(TESTS / "events"), str(TESTS), str(TESTS.parent / "src")])


def unique_stream() -> str:
    """A stream name (and subject prefix) no other test or engineer uses."""
    return f"T{uuid4().hex[:12].upper()}"


@asynccontextmanager
async def cleaned_up(url: str, *streams: str) -> AsyncIterator[None]:
    """Delete ``streams`` (and their dead-letter streams) afterwards."""
    try:
        yield
    finally:
        nc = await nats.connect(url)
        js = nc.jetstream()
        for name in streams:
            for candidate in (name, f"{name}_DEAD_LETTERS"):
                with suppress(NotFoundError):
                    await js.delete_stream(candidate)
        await nc.close()


async def stream_positions(url: str, stream: str, subject: str = ">") -> list[int]:
    """The ``Lamina-Position`` of every message of ``stream``, in stream order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        total = info.state.messages
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, filter_subject=subject
        )
        sub = await js.pull_subscribe(subject, stream=stream, config=config)
        positions: list[int] = []
        while len(positions) < total:
            try:
                messages = await sub.fetch(min(1000, total - len(positions)), timeout=2)
            except TimeoutError:
                break
            positions.extend(position_of(m.headers) for m in messages)
        await sub.unsubscribe()
        return positions
    finally:
        await nc.close()


async def wait_for_count(url: str, stream: str, count: int, within: float) -> int:
    """Wait until ``stream`` holds ``count`` messages; returns how many it holds."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                held = (await js.stream_info(stream)).state.messages
            except NotFoundError:
                held = 0
            if held >= count or asyncio.get_running_loop().time() > deadline:
                return held
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


def relay_process(db_url: str, nats: str, stream: str, *extra: str) -> subprocess.Popen[bytes]:
    """``lamina events relay`` in a subprocess, with a short lease."""
    env = {**os.environ, "PYTHONPATH": SUBPROCESS_PATH}
    return subprocess.Popen(
        [
            LAMINA,
            "events",
            "relay",
            "--url",
            db_url,
            "--to",
            nats,
            "--stream",
            stream,
            "--subject-prefix",
            stream.lower(),
            "--lease",
            "1",
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class PrivateNats:
    """A nats-server of the test's own (JetStream in ``store``), to kill and restart at will."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._spawn()
        await self._wait_until_up()

    def _spawn(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def _wait_until_up(self) -> None:
        for _ in range(100):
            try:
                nc = await nats.connect(self.url, allow_reconnect=False, connect_timeout=0.5)
            except Exception:
                await asyncio.sleep(0.05)
                continue
            await nc.close()
            return
        raise RuntimeError("the private nats-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    @staticmethod
    def available() -> bool:
        return shutil.which(NATS_SERVER) is not None or Path(NATS_SERVER).exists()
