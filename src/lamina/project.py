"""The project's own lamina settings: the ``[tool.lamina]`` table of its ``pyproject.toml``.

::

    [tool.lamina]
    database = "sqlite+aiosqlite:///var/chat.db"     # relative paths: from this file
    metadata = "myapp.rows:Base.metadata"
    migrations = "migrations/versions"
    handlers = "myapp.projections:subscriptions"

The application and the ``lamina`` commands read the database from the same
place (:func:`database_url`), so ``lamina db current`` run from the project
root looks at the database the application uses.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

__all__ = [
    "DATABASE_URL_VAR",
    "DEFAULT_DATABASE_URL",
    "ProjectSettingsError",
    "database_url",
    "tool_settings",
]

DATABASE_URL_VAR = "LAMINA_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./lamina.db"


class ProjectSettingsError(ValueError):
    """``pyproject.toml`` exists but its ``[tool.lamina]`` table cannot be read."""


def tool_settings(root: Path) -> dict[str, Any]:
    """``[tool.lamina]`` of ``root/pyproject.toml``; empty when there is no such file or table."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProjectSettingsError(f"{path} is not valid TOML: {error}") from error
    section = document.get("tool", {}).get("lamina", {})
    if not isinstance(section, dict):
        raise ProjectSettingsError(f"[tool.lamina] in {path} must be a table")
    return section


def database_url(
    url: str | None = None, *, default: str = DEFAULT_DATABASE_URL, root: Path | None = None
) -> str:
    """The database: ``url``, else ``$LAMINA_DATABASE_URL``, else ``database`` under
    ``[tool.lamina]`` of ``root`` (default: the current directory; a relative SQLite path
    there is relative to that ``pyproject.toml``), else ``default``."""
    if url:
        return url
    if os.environ.get(DATABASE_URL_VAR):
        return os.environ[DATABASE_URL_VAR]
    root = Path.cwd() if root is None else root
    configured = tool_settings(root).get("database")
    if not configured:
        return default
    if not isinstance(configured, str):
        raise ProjectSettingsError("'database' under [tool.lamina] must be a URL string")
    parsed = make_url(configured)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        if not path.is_absolute():
            return parsed.set(database=str((root / path).resolve())).render_as_string(False)
    return configured
