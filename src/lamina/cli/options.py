"""What the ``lamina`` commands share: the database option, finding the database, errors.

Every command finds the database as the application does (``--url``, else
``LAMINA_DATABASE_URL``, else ``database`` under ``[tool.lamina]``, else
``./lamina.db``: :func:`lamina.project.database_url`). A command that only
reads never creates an SQLite file; what a command cannot do is one line on
stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lamina.domain.errors import Unavailable
from lamina.persistence.errors import database_error_types
from lamina.project import ProjectSettingsError, database_url

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Async database URL; else $LAMINA_DATABASE_URL, else 'database' under "
        "[tool.lamina] in ./pyproject.toml, else ./lamina.db.",
    ),
]


class CommandError(Exception):
    """A command cannot run; the message says why (shown without a traceback)."""


def existing_database(url: str | None) -> str:
    """The URL of the database a command works on, which must exist already.

    Raises :class:`CommandError` for an SQLite file that does not exist: a
    command that reads a database must not create an empty one.
    """
    try:
        resolved = database_url(url)
        parsed = make_url(resolved)
    except (ProjectSettingsError, ArgumentError) as error:
        raise CommandError(str(error)) from error
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        if not path.exists():
            raise CommandError(
                f"no database at {path.resolve()}: "
                "create it with 'lamina db upgrade' (or by starting the application)"
            )
    return resolved


@contextmanager
def reported_errors(*known: type[Exception]) -> Iterator[None]:
    """Turn :class:`CommandError`, ``known`` errors and database failures into one line on
    stderr and exit status 1."""
    expected: tuple[type[Exception], ...] = (CommandError, *known)
    try:
        yield
    except expected as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except Exception as error:
        if not isinstance(error, (Unavailable, *database_error_types())):  # drivers loaded now
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        typer.echo(f"error: the database failed: {reason}", err=True)
        raise typer.Exit(1) from None
