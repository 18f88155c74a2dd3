"""``lamina db``: migrations of lamina's tables and the application's.

The application is found from ``--metadata`` / ``--migrations``, then
``LAMINA_APP_METADATA`` / ``LAMINA_MIGRATIONS``, then ``[tool.lamina]`` in
``./pyproject.toml``; without any, the commands manage lamina's own tables only.
The database is found as the application finds it (see :mod:`lamina.cli.options`);
only ``upgrade`` creates an SQLite file that does not exist yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.engine import make_url

from lamina.cli.options import Url, existing_database, reported_errors
from lamina.persistence import migrations
from lamina.persistence.migrations import MigrationConfig, MigrationError

T = TypeVar("T")

app = typer.Typer(
    help="Database migrations: lamina's own tables and the application's.",
    no_args_is_help=True,
)

Metadata = Annotated[
    str | None,
    typer.Option(
        "--metadata",
        help="Import path of the app's MetaData or declarative base, 'pkg.module:Base'; "
        "else $LAMINA_APP_METADATA, else 'metadata' under tool.lamina in ./pyproject.toml.",
    ),
]
Migrations = Annotated[
    str | None,
    typer.Option(
        "--migrations",
        help="Folder of the app's revisions; else $LAMINA_MIGRATIONS, "
        "else 'migrations' under tool.lamina in ./pyproject.toml.",
    ),
]
RELATIVE_REVISIONS = {"ignore_unknown_options": True}
"""Lets ``downgrade -1`` pass ``-1`` as the revision rather than as an option."""


@app.command(context_settings=RELATIVE_REVISIONS)
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "heads",
    url: Url = None,
    metadata: Metadata = None,
    migrations_folder: Migrations = None,
) -> None:
    """Upgrade the database to REVISION (by default the heads of lamina and the app)."""
    with _reporting():
        config = _app_config(metadata, migrations_folder)
        database = migrations.database_url(url)
        _run(migrations.upgrade(database, app=config, revision=revision))
        _show_current(database, config)


@app.command(context_settings=RELATIVE_REVISIONS)
def downgrade(
    revision: Annotated[str, typer.Argument(help="'base' removes everything; 'app@-1'.")],
    url: Url = None,
    metadata: Metadata = None,
    migrations_folder: Migrations = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before removing every table.")
    ] = False,
) -> None:
    """Downgrade the database to REVISION ('base' asks first: it drops every table)."""
    with _reporting():
        config = _app_config(metadata, migrations_folder)
        database = existing_database(url)
        if revision == "base" and not yes:
            shown = make_url(database).render_as_string(hide_password=True)
            typer.confirm(f"Drop every table of {shown}, data included?", abort=True)
        _run(migrations.downgrade(database, revision, app=config))
        _show_current(database, config)


@app.command()
def revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the revision does.")],
    autogenerate: Annotated[
        bool, typer.Option("--autogenerate", help="Derive it from the models and the database.")
    ] = False,
    rev_id: Annotated[
        str | None,
        typer.Option(
            "--rev-id",
            help="The revision's id, e.g. 'chat_0002' (file chat_0002_<message>.py); "
            "else a random one.",
        ),
    ] = None,
    url: Url = None,
    metadata: Metadata = None,
    migrations_folder: Migrations = None,
) -> None:
    """Write a new revision into the app's migrations folder."""
    with _reporting():
        config = _app_config(metadata, migrations_folder)
        if config is None:
            raise MigrationError(
                "no application configured: set [tool.lamina] migrations (and metadata) in "
                "pyproject.toml, LAMINA_MIGRATIONS or --migrations"
            )
        path = _run(
            migrations.revision(
                message,
                app=config,
                url=existing_database(url),
                autogenerate=autogenerate,
                rev_id=rev_id,
            )
        )
    if path is None:
        typer.echo("no changes between the models and the database: no revision written")
    else:
        typer.echo(f"wrote {path}")


@app.command()
def current(
    url: Url = None, metadata: Metadata = None, migrations_folder: Migrations = None
) -> None:
    """Show the revisions the database is at."""
    with _reporting():
        _show_current(existing_database(url), _app_config(metadata, migrations_folder))


@app.command()
def check(url: Url = None, metadata: Metadata = None, migrations_folder: Migrations = None) -> None:
    """Compare the models with the migrated database; exit 1 when they differ."""
    with _reporting():
        config = _app_config(metadata, migrations_folder)
        differences = _run(migrations.check(existing_database(url), app=config))
    if not differences:
        typer.echo("no drift: the database matches the models")
        return
    typer.echo("drift between the models and the database:", err=True)
    for difference in differences:
        typer.echo(f"  - {difference}", err=True)
    raise typer.Exit(1)


def _app_config(metadata: str | None, migrations_folder: str | None) -> MigrationConfig | None:
    """The application's config, its models imported (a bad path is reported before the
    database is looked at)."""
    config = migrations.discover_config(metadata=metadata, migrations=migrations_folder)
    if config is not None:
        config.load_metadata()
    return config


def _show_current(url: str, config: MigrationConfig | None) -> None:
    applied = _run(migrations.current(url, app=config))
    if not applied:
        typer.echo("database has no revision (not migrated)")
    for found in applied:
        branches = f" ({', '.join(found.branches)})" if found.branches else ""
        head = " (head)" if found.is_head else ""
        typer.echo(f"{found.id}{branches}{head}: {found.message}")


def _run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


@contextmanager
def _reporting() -> Iterator[None]:
    """Show Alembic's progress lines; what cannot be done is one line and exit 1."""
    _show_progress()
    with reported_errors(MigrationError):
        yield


class _ProgressLines(logging.Handler):
    """Alembic's "Running upgrade a -> b" lines, on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if line.startswith("Running "):
            typer.echo(line, err=True)


def _show_progress() -> None:
    logger = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(handler, _ProgressLines) for handler in logger.handlers):
        logger.addHandler(_ProgressLines())
    logger.setLevel(logging.INFO)
