"""The revision scripts of lamina and the application, and where a database stands in them.

lamina's revisions live in this package (``versions/``, branch ``lamina``); the
application's in its own folder (branch ``app``). Alembic keeps in its version
table only the revisions nothing applied depends on, so the app's first
revision, which depends on lamina's branch, stands in for lamina's revision
until lamina gets a newer one; :func:`applied` works out everything implied.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection

from lamina.persistence.migrations.config import MigrationConfig, MigrationError
from lamina.persistence.migrations.environment import CONNECTION_KEY, SCOPE_KEY, Scope

SCRIPT_DIR = Path(__file__).parent
LAMINA_VERSIONS = SCRIPT_DIR / "versions"
LAMINA_BRANCH = "lamina"

T = TypeVar("T")


def alembic_config(app: MigrationConfig | None) -> Config:
    """An Alembic ``Config`` over lamina's revisions and, when given, the application's."""
    config = Config(cmd_opts=Namespace(quiet=True))
    config.set_main_option("script_location", _escaped(SCRIPT_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("truncate_slug_length", "60")
    locations = [LAMINA_VERSIONS] + ([app.versions] if app is not None else [])
    config.set_main_option(
        "version_locations", os.pathsep.join(_escaped(path) for path in locations)
    )
    return config


def _escaped(path: Path) -> str:
    """An absolute path for a configparser value (``%`` is its interpolation character)."""
    return str(path.resolve()).replace("%", "%%")


def script_directory(config: Config, app: MigrationConfig | None) -> ScriptDirectory:
    """The revisions of ``config``, loaded and checked.

    A missing app folder whose parent exists is created (an app's first
    migration); one whose parent is missing too is reported as a mistake.
    """
    if app is not None and not app.versions.is_dir() and app.versions.parent.is_dir():
        app.versions.mkdir()
    if app is not None and not app.versions.is_dir():
        raise MigrationError(
            f"migrations folder {app.versions.resolve()} does not exist: check [tool.lamina] "
            "migrations, LAMINA_MIGRATIONS or --migrations (`lamina db revision` creates it)"
        )
    script = ScriptDirectory.from_config(config)
    alembic_call(script.get_heads)
    return script


def lamina_script_directory() -> ScriptDirectory:
    """lamina's own revisions."""
    return ScriptDirectory.from_config(alembic_config(None))


def has_branch(script: ScriptDirectory, label: str) -> bool:
    """Whether any revision carries the branch ``label``."""
    return any(label in found.branch_labels for found in script.walk_revisions())


def find_script(script: ScriptDirectory, revision_id: str) -> Script | None:
    """The revision ``revision_id`` (or a branch label), ``None`` when there is none."""
    try:
        return script.get_revision(revision_id)
    except (RevisionError, CommandError):
        return None


def stored_revisions(connection: Connection) -> set[str]:
    """The revisions in the database's version table (empty when there is none)."""
    return set(MigrationContext.configure(connection).get_current_heads())


def applied(script: ScriptDirectory, stored: set[str]) -> set[str]:
    """Every revision the version table implies: the stored ones, their ancestors and
    the revisions they depend on."""
    found_ids: set[str] = set()
    pending = list(stored)
    while pending:
        found = find_script(script, pending.pop())
        if found is None or found.revision in found_ids:
            continue
        found_ids.add(found.revision)
        for linked in (found.down_revision, found.dependencies):
            pending.extend([linked] if isinstance(linked, str) else linked or ())
    return found_ids


def is_at_heads(script: ScriptDirectory, stored: set[str]) -> bool:
    """Whether the version table holds exactly the heads, as Alembic counts them."""
    return stored == set(script.get_heads(consider_depends_on=True))


def not_at_heads(script: ScriptDirectory, stored: set[str]) -> str:
    """Why a database whose version table holds ``stored`` is not at the heads."""
    unknown = {revision_id for revision_id in stored if find_script(script, revision_id) is None}
    if unknown:
        return f"database has revisions {_names(unknown)} that are not in the configured migrations"
    missing = set(script.get_heads()) - applied(script, stored)
    return f"database is at {_names(stored)}, not yet at {_names(missing)}: run `lamina db upgrade`"


def _names(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions)) or "no revision"


def written_path(result: Any) -> Path | None:
    """The file ``alembic.command.revision`` wrote, or ``None`` when it wrote none."""
    scripts = result if isinstance(result, list) else [result]
    written = [script for script in scripts if isinstance(script, Script)]
    return Path(written[0].path) if written else None


def alembic_call(action: Callable[[], T]) -> T:
    """Run an Alembic call, turning its errors into :class:`MigrationError`."""
    try:
        return action()
    except (CommandError, RevisionError) as error:
        message = str(error)
        if "Target database is not up to date" in message:
            message += " Run `lamina db upgrade` first."
        raise MigrationError(message) from error
    except AssertionError as error:
        # Alembic asserts, rather than explains, when a relative target such as ``app@-1``
        # names a branch the database has no revision of.
        raise MigrationError(
            "Alembic cannot reach that revision from the database's current revisions "
            "(is that branch applied?)"
        ) from error


def in_environment(
    config: Config, connection: Connection, scope: Scope, action: Callable[[], T]
) -> T:
    """Run an Alembic command whose ``env.py`` uses ``connection`` and ``scope``."""
    config.attributes[CONNECTION_KEY] = connection
    config.attributes[SCOPE_KEY] = scope
    try:
        return alembic_call(action)
    finally:
        config.attributes.pop(CONNECTION_KEY, None)
        config.attributes.pop(SCOPE_KEY, None)
