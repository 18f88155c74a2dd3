"""The migration commands: upgrade, downgrade, current, check and revision.

Each opens an ``AsyncEngine`` on the URL and runs Alembic on its connection
with ``run_sync`` inside one transaction (on PostgreSQL an upgrade is all or
nothing). Failures are :class:`MigrationError` with a message an operator can
act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, MetaData, String, Table, text

from lamina.persistence.migrations.config import MigrationConfig, MigrationError
from lamina.persistence.migrations.connection import on_connection
from lamina.persistence.migrations.differences import describe_differences
from lamina.persistence.migrations.environment import app_scope, lamina_scope
from lamina.persistence.migrations.indexes import AUTOGENERATE_PLUGINS, index_warnings_silenced
from lamina.persistence.migrations.scripts import (
    LAMINA_BRANCH,
    LAMINA_VERSIONS,
    alembic_call,
    alembic_config,
    applied,
    find_script,
    has_branch,
    in_environment,
    is_at_heads,
    lamina_script_directory,
    not_at_heads,
    script_directory,
    stored_revisions,
    written_path,
)
from lamina.persistence.tables import lamina_metadata

LOCK_KEY = 0x6C616D696E61  # "lamina": the PostgreSQL advisory lock held while upgrading

VERSION_TABLE = Table("alembic_version", MetaData(), Column("version_num", String(32)))
"""Alembic's version table, as far as dropping it after a downgrade to base needs."""


@dataclass(frozen=True)
class AppliedRevision:
    """The latest revision the database has of one branch (lamina's, the application's)."""

    id: str
    branches: tuple[str, ...]
    message: str
    is_head: bool


async def upgrade(url: str, *, app: MigrationConfig | None = None, revision: str = "heads") -> None:
    """Upgrade the database to ``revision`` (by default the heads of lamina and the app).

    Cheap when the database is already at the heads: the version table is read
    and nothing else runs. On PostgreSQL an advisory lock lets one of several
    processes starting together migrate while the others wait for it.
    """
    config = alembic_config(app)
    script = script_directory(config, app)

    def run(connection: Connection) -> None:
        if revision == "heads" and is_at_heads(script, stored_revisions(connection)):
            return
        if connection.dialect.name == "postgresql":
            # Several processes starting at once: one migrates, the others wait, then see
            # the database at the heads.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            if revision == "heads" and is_at_heads(script, stored_revisions(connection)):
                return
        in_environment(
            config, connection, lamina_scope(), lambda: command.upgrade(config, revision)
        )

    await on_connection(url, run, app_configured=app is not None)


async def downgrade(url: str, revision: str, *, app: MigrationConfig | None = None) -> None:
    """Downgrade the database to ``revision``: ``"app@-1"`` steps the application's branch
    back one revision; ``"base"`` removes every table, the version table included."""
    config = alembic_config(app)
    script_directory(config, app)

    def run(connection: Connection) -> None:
        stored = stored_revisions(connection)
        if revision.startswith("-") and len(stored) > 1:
            raise MigrationError(
                f"the database is at {len(stored)} heads ({', '.join(sorted(stored))}): "
                f"say which branch steps back, for example 'app@{revision}'"
            )
        in_environment(
            config, connection, lamina_scope(), lambda: command.downgrade(config, revision)
        )
        if revision == "base" and not stored_revisions(connection):
            VERSION_TABLE.drop(connection, checkfirst=True)

    await on_connection(url, run, app_configured=app is not None)


async def current(url: str, *, app: MigrationConfig | None = None) -> list[AppliedRevision]:
    """The latest revision of each branch the database has; empty for an unmigrated one.

    A revision unknown to the configured migrations is listed with ``branches=()``.
    """
    config = alembic_config(app)
    script = script_directory(config, app)
    heads = set(script.get_heads())

    def read(connection: Connection) -> list[AppliedRevision]:
        stored = stored_revisions(connection)
        implied = applied(script, stored)
        latest = []
        for revision_id in sorted(stored | implied):
            found = find_script(script, revision_id)
            if found is None:
                latest.append(
                    AppliedRevision(revision_id, (), "not in the configured migrations", False)
                )
            elif not found.nextrev & implied:
                latest.append(
                    AppliedRevision(
                        id=revision_id,
                        branches=tuple(sorted(found.branch_labels)),
                        message=found.doc,
                        is_head=revision_id in heads,
                    )
                )
        return latest

    return await on_connection(url, read, app_configured=app is not None)


async def check(url: str, *, app: MigrationConfig | None = None) -> list[str]:
    """The differences between the models and the database; empty when they agree.

    Compares lamina's tables with :data:`~lamina.persistence.tables.lamina_metadata`
    and the application's tables with its metadata (with no application, tables
    that are not lamina's are ignored). A database that is not at the heads is a
    difference too, so no differences after an upgrade proves the migrations
    create what the models declare. Types are compared as each dialect compiles
    them, so ``UTCDateTime``, ``Uuid`` and ``JSON`` match what they created.
    """
    config = alembic_config(app)
    script = script_directory(config, app)
    app_metadata = app.load_metadata() if app is not None else None
    scopes = [lamina_scope()]
    if app_metadata is not None and app_metadata is not lamina_metadata:
        scopes.append(app_scope(app_metadata))

    def compare(connection: Connection) -> list[str]:
        differences = []
        stored = stored_revisions(connection)
        if not is_at_heads(script, stored):
            differences.append(not_at_heads(script, stored))
        for scope in scopes:
            context = MigrationContext.configure(
                connection,
                opts={
                    "include_object": scope.include_object,
                    "compare_type": True,
                    "autogenerate_plugins": AUTOGENERATE_PLUGINS,
                },
            )
            with index_warnings_silenced():
                found = compare_metadata(context, scope.metadata)
            differences.extend(describe_differences(found, connection.dialect))
        return differences

    return await on_connection(url, compare, app_configured=app is not None)


async def revision(
    message: str,
    *,
    app: MigrationConfig,
    url: str | None = None,
    autogenerate: bool = False,
    rev_id: str | None = None,
) -> Path | None:
    """Write a new revision into the application's folder (created if missing); its path.

    The first revision starts the application's branch (label ``app.branch``),
    depending on lamina's branch. With ``autogenerate`` the operations come from
    comparing the app's metadata with the database at ``url``, which must be at
    the heads; when they already agree nothing is written and ``None`` returned.
    ``rev_id`` names the revision (for example ``chat_0002``; the file is
    ``chat_0002_<message>.py``) instead of a random hash; it must be new.
    """
    if rev_id is not None:
        check_revision_id(rev_id)
    app.versions.mkdir(parents=True, exist_ok=True)
    config = alembic_config(app)
    script = script_directory(config, app)
    if rev_id is not None and find_script(script, rev_id) is not None:
        raise MigrationError(f"revision {rev_id!r} already exists: choose another --rev-id")
    placement: dict[str, Any] = (
        {"head": f"{app.branch}@head"}
        if has_branch(script, app.branch)
        else {"head": "base", "branch_label": app.branch, "depends_on": LAMINA_BRANCH}
    )

    def write(autogenerate: bool) -> Path | None:
        return written_path(
            command.revision(
                config,
                message,
                autogenerate=autogenerate,
                version_path=str(app.versions.resolve()),
                rev_id=rev_id,
                **placement,
            )
        )

    if not autogenerate:
        return alembic_call(lambda: write(False))
    if url is None:
        raise MigrationError("autogenerate compares the models with a database: give its URL")
    app_metadata = app.load_metadata()
    if app_metadata is None:
        raise MigrationError("autogenerate needs the application's metadata: configure it")
    scope = app_scope(app_metadata)

    def generate(connection: Connection) -> Path | None:
        return in_environment(config, connection, scope, lambda: write(True))

    return await on_connection(url, generate, app_configured=True)


REVISION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,31}$")
"""What a revision id may be: it names a file and fits Alembic's 32-character version column."""


def check_revision_id(rev_id: str) -> None:
    """Raise :class:`MigrationError` unless ``rev_id`` can name a revision."""
    if not REVISION_ID.match(rev_id):
        raise MigrationError(
            f"revision id {rev_id!r} must be 1 to 32 letters, digits or underscores "
            "(for example chat_0002)"
        )


async def lamina_revision(message: str, url: str, *, rev_id: str) -> Path | None:
    """Autogenerate lamina's revision ``rev_id`` against the database at ``url``, which is
    at lamina's head (for lamina's developers: see the package documentation)."""
    config = alembic_config(None)
    placement: dict[str, Any] = (
        {"head": f"{LAMINA_BRANCH}@head"}
        if has_branch(lamina_script_directory(), LAMINA_BRANCH)
        else {"head": "base", "branch_label": LAMINA_BRANCH}
    )

    def generate(connection: Connection) -> Path | None:
        def write() -> Path | None:
            return written_path(
                command.revision(
                    config,
                    message,
                    autogenerate=True,
                    version_path=str(LAMINA_VERSIONS),
                    rev_id=rev_id,
                    **placement,
                )
            )

        return in_environment(config, connection, lamina_scope(), write)

    return await on_connection(url, generate, app_configured=False)
