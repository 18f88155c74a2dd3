"""``python -m examples.chat``: migrate, load the demo data, serve. Asks nothing.

Environment (all optional):

``LAMINA_DATABASE_URL``  default: ``database`` under ``[tool.lamina]`` of ``./pyproject.toml``
                         (the ``lamina`` commands read the same), else the SQLite
                         file ``./var/chat.db`` (folder created); ``postgresql://...``
                         works the same way.
``HOST`` / ``PORT``      default ``127.0.0.1`` / ``8000``.
``WORKERS``              uvicorn worker processes (default 1). On PostgreSQL every
                         worker gets every event through LISTEN/NOTIFY; on SQLite
                         other workers' events arrive by polling (within a second).
                         ``/metrics`` shows every worker's metrics (kept in
                         ``var/metrics``, emptied at each start).
``LAMINA_DEMO=0``        skip the demo data (two users, a workspace, conversations).
``MAX_STREAMS_PER_USER`` open ``/events`` streams per user and worker (default 10).
``LOG_FORMAT``           ``json`` (default: one JSON object per line on stderr, with the
                         request's correlation id, secrets masked) or ``plain`` (readable).
``LAMINA_SECRET_KEY``    signs list cursors; every worker and every restart must use
                         the same key for cursors to stay valid. When unset, a random
                         key is made once and kept in ``chat.secret`` next to the
                         SQLite file (``./var`` for PostgreSQL), so all workers and
                         restarts on this machine share it. Several machines serving
                         one database must be given the same ``LAMINA_SECRET_KEY``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

import uvicorn
from sqlalchemy.engine import make_url

from examples.chat.demo import DEMO_USERS, load_demo
from examples.chat.rows import ChatBase
from lamina.api import MULTIPROCESS_DIR_VAR, log_config
from lamina.persistence import Database, MigrationConfig, normalize_url, upgrade
from lamina.project import database_url
from lamina.security import PasswordHasher

MIGRATIONS = Path(__file__).parent / "migrations"


def state_folder(url: str) -> Path:
    """Where the service keeps local state: the SQLite file's folder, else ``./var``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).resolve().parent
    return Path.cwd() / "var"


def secret_key(folder: Path) -> str:
    """``LAMINA_SECRET_KEY``, else the key kept in ``folder/chat.secret`` (made once)."""
    given = os.environ.get("LAMINA_SECRET_KEY")
    if given:
        return given
    path = folder / "chat.secret"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def fresh_folder(path: Path) -> Path:
    """``path``, made empty (metrics files of an earlier run must not count)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


async def prepare(url: str, key: str, demo: bool) -> bool:
    """Apply the migrations and, if asked, load the demo data; True if it was loaded now."""
    await upgrade(url, app=MigrationConfig(versions=MIGRATIONS, metadata=ChatBase.metadata))
    if not demo:
        return False
    async with Database(url, secret_key=key) as db:
        return await load_demo(db, PasswordHasher())


def main() -> None:
    """Run the chat service until interrupted."""
    default_db = Path.cwd() / "var" / "chat.db"
    given = database_url(default=f"sqlite+aiosqlite:///{default_db}")
    # postgresql://... and sqlite://... work too: made async (asyncpg, aiosqlite) here.
    url = normalize_url(given).render_as_string(hide_password=False)
    if make_url(url).get_backend_name() == "sqlite":
        state_folder(url).mkdir(parents=True, exist_ok=True)
    key = secret_key(state_folder(url))
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    workers = int(os.environ.get("WORKERS", "1"))
    demo = os.environ.get("LAMINA_DEMO", "1") != "0"

    loaded = asyncio.run(prepare(url, key, demo))
    # Worker processes build the app from the environment (examples.chat.app:app_from_env).
    os.environ["LAMINA_DATABASE_URL"] = url
    os.environ["LAMINA_SECRET_KEY"] = key
    if workers > 1:  # every worker's metrics in one /metrics, whichever worker answers
        os.environ[MULTIPROCESS_DIR_VAR] = str(fresh_folder(state_folder(url) / "metrics"))
    shown = make_url(url).render_as_string(hide_password=True)
    lines = [f"lamina chat: database {shown}", f"  API docs: http://{host}:{port}/docs"]
    if demo:
        state = "loaded" if loaded else "already there"
        lines.append(f"  demo data {state}; log in via Authorize:")
        lines += [f"    username {u.username!r}  password {u.password!r}" for u in DEMO_USERS]
    print("\n".join(lines), flush=True)
    uvicorn.run(
        "examples.chat.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=5,
        log_config=log_config(os.environ.get("LOG_FORMAT", "json")),
        access_log=False,  # lamina writes one line per request, with its correlation id
    )


if __name__ == "__main__":
    main()
