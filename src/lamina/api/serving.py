"""``serve``: run an app built on lamina as a service, asking nothing.

Every reference service starts the same way: find the database, keep a secret
key that every worker and restart shares, apply the migrations, load demo
data, say where the docs are, and run uvicorn workers that build the app from
the environment::

    # myapp/__main__.py
    serve("myapp.app:app_from_env", name="myapp",
          migrations=MigrationConfig.beside(Rows),   # myapp/migrations
          demo=DemoData(load_demo, logins=[("alice", "alice-demo-password")]))

Environment (all optional):

``LAMINA_DATABASE_URL``  default: ``database`` under ``[tool.lamina]`` of ``./pyproject.toml``,
                         else the SQLite file ``./var/<name>.db`` (folder created);
                         ``postgresql://...`` and ``sqlite://...`` are made async.
``HOST`` / ``PORT``      default ``127.0.0.1`` / the ``port`` given.
``WORKERS``              uvicorn worker processes (default 1); ``/metrics`` then shows
                         every worker's (kept in ``<state>/metrics``, emptied at start).
``LAMINA_DEMO=0``        skip the demo data.
``LOG_FORMAT``           ``json`` (default: one object per line, correlation id, secrets
                         masked) or ``plain``.
``LAMINA_KEYS[_FILE]``   encryption keys (see ``Keyring``); with ``encryption_keys=True`` and
                         neither set, kept in ``<name>.keys`` next to the secret key.
``LAMINA_SECRET_KEY``    signs list cursors; when unset a random key is made once and kept
                         in ``<name>.secret`` next to the SQLite file (``./var`` for
                         PostgreSQL), so every worker and restart on this machine shares it.

The workers read ``LAMINA_DATABASE_URL`` and ``LAMINA_SECRET_KEY`` as resolved here.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy.engine import make_url

from lamina.api.logging import log_config
from lamina.api.metrics import MULTIPROCESS_DIR_VAR
from lamina.persistence import Database, MigrationConfig, new_key, normalize_url, upgrade
from lamina.persistence.keyring import INDEX_ENTRY, KEYS_FILE_VAR, KEYS_VAR
from lamina.project import DATABASE_URL_VAR, database_url

SECRET_KEY_VAR = "LAMINA_SECRET_KEY"


@dataclass(frozen=True)
class DemoData:
    """Demo data a service loads at start-up (unless ``LAMINA_DEMO=0``)."""

    load: Callable[[Database], Awaitable[bool]]
    """Loads it (through the app's services); False when it was there already."""
    logins: Sequence[tuple[str, str]] = ()
    """``(username, password)`` of the demo accounts, printed at start-up."""


def state_folder(url: str) -> Path:
    """Where a service keeps local state: the SQLite file's folder, else ``./var``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).resolve().parent
    return Path.cwd() / "var"


def shared_secret_key(folder: Path, name: str) -> str:
    """``LAMINA_SECRET_KEY``, else the key kept in ``folder/<name>.secret`` (made once)."""
    given = os.environ.get(SECRET_KEY_VAR)
    if given:
        return given
    path = folder / f"{name}.secret"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def local_keys(folder: Path, name: str) -> None:
    """Unless ``LAMINA_KEYS`` or ``LAMINA_KEYS_FILE`` is set, point ``LAMINA_KEYS_FILE`` at
    ``folder/<name>.keys``, made once with a fresh encryption key and blind-index key
    (readable by this user only): a service with encrypted fields then starts on a laptop
    as it is. In production, give the keys from your secret manager instead."""
    if os.environ.get(KEYS_VAR) or os.environ.get(KEYS_FILE_VAR):
        return
    path = folder / f"{name}.keys"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(f"k1={new_key()}\n{INDEX_ENTRY}={new_key()}\n")
    os.environ[KEYS_FILE_VAR] = str(path)


def _fresh_folder(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


async def _prepare(
    url: str, key: str, migrations: MigrationConfig, demo: DemoData | None
) -> bool | None:
    """Migrate, then load the demo data: True if loaded now, False if there, None if off."""
    await upgrade(url, app=migrations)
    if demo is None:
        return None
    async with Database(url, secret_key=key) as db:
        return await demo.load(db)


def serve(
    factory: str,
    *,
    name: str,
    migrations: MigrationConfig,
    demo: DemoData | None = None,
    port: int = 8000,
    web_client: str | None = None,
    encryption_keys: bool = False,
) -> None:
    """Migrate the database, load ``demo`` and serve the app ``factory`` builds
    (``"package.module:function"``, called in each worker) until interrupted.
    ``web_client`` is the path of the app's page for people (printed first).
    ``encryption_keys``: the app has encrypted fields; without configured keys, use
    local ones (:func:`local_keys`)."""
    default_db = Path.cwd() / "var" / f"{name}.db"
    url = normalize_url(database_url(default=f"sqlite+aiosqlite:///{default_db}"))
    resolved = url.render_as_string(hide_password=False)
    state = state_folder(resolved)
    if url.get_backend_name() == "sqlite":
        state.mkdir(parents=True, exist_ok=True)
    key = shared_secret_key(state, name)
    if encryption_keys:
        local_keys(state, name)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", str(port)))
    workers = int(os.environ.get("WORKERS", "1"))
    wanted = demo if os.environ.get("LAMINA_DEMO", "1") != "0" else None

    loaded = asyncio.run(_prepare(resolved, key, migrations, wanted))
    os.environ[DATABASE_URL_VAR] = resolved
    os.environ[SECRET_KEY_VAR] = key
    if workers > 1:  # every worker's metrics in one /metrics, whichever worker answers
        os.environ[MULTIPROCESS_DIR_VAR] = str(_fresh_folder(state / "metrics"))
    shown = url.render_as_string(hide_password=True)
    lines = [f"lamina {name}: database {shown}"]
    if web_client is not None:
        lines.append(f"  web client: http://{host}:{port}{web_client}")
    lines.append(f"  API docs: http://{host}:{port}/docs")
    if wanted is not None:
        lines.append(
            f"  demo data {'loaded' if loaded else 'already there'}; log in via Authorize:"
        )
        lines += [
            f"    username {user!r}  password {password!r}" for user, password in wanted.logins
        ]
    print("\n".join(lines), flush=True)
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=5,
        log_config=log_config(os.environ.get("LOG_FORMAT", "json")),
        access_log=False,  # lamina writes one line per request, with its correlation id
    )
