"""The chat service under test, started the way a user starts it: ``python -m examples.chat``.

:func:`fresh_database` gives each run an empty database: a new SQLite file, or
a PostgreSQL database of its own (dropped afterwards), so the figures of one
run never include another's rows.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

REPO = Path(__file__).resolve().parents[2]
LOAD_DATABASE = "lamina_load"
SECRET = "lamina-load-test-secret"


@contextlib.asynccontextmanager
async def fresh_database(url: str, folder: Path) -> AsyncIterator[str]:
    """An empty database like ``url``: a file in ``folder``, or PostgreSQL's ``lamina_load``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'load.db'}"
        return
    admin = create_async_engine(
        parsed.set(drivername="postgresql+asyncpg"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {LOAD_DATABASE} WITH (FORCE)"))
            await conn.execute(text(f"CREATE DATABASE {LOAD_DATABASE}"))
        yield parsed.set(drivername="postgresql+asyncpg", database=LOAD_DATABASE).render_as_string(
            hide_password=False
        )
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {LOAD_DATABASE} WITH (FORCE)"))
        await admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def chat_service(url: str, workers: int, folder: Path) -> Iterator[tuple[int, int]]:
    """``python -m examples.chat`` on ``url`` with ``workers`` processes: its port and pid.

    No demo data and no access log (it would cost the server more than the
    requests); its output goes to ``folder/server.log``.
    """
    port = free_port()
    env = {
        **os.environ,
        "LAMINA_DATABASE_URL": url,
        "LAMINA_SECRET_KEY": SECRET,
        "LAMINA_DEMO": "0",
        "LAMINA_ACCESS_LOG": "0",
        "PORT": str(port),
        "WORKERS": str(workers),
        "PYTHONPATH": str(REPO),
    }
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.chat"], env=env, cwd=folder, stdout=log, stderr=log
    )
    try:
        _wait_until_up(port, process, workers)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_up(port: int, process: subprocess.Popen[bytes], workers: int) -> None:
    deadline = time.monotonic() + 60
    while not _ready(port):
        if process.poll() is not None:
            raise RuntimeError(f"the chat service exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the chat service did not start within 60 s")
        time.sleep(0.2)
    time.sleep(0.5 * workers)  # let every worker process finish starting


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False
