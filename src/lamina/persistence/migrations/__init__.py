"""Alembic migrations for lamina's own tables and for each application's tables.

lamina's tables (:data:`~lamina.persistence.tables.lamina_metadata`) ship their
revisions in this package (``versions/``, branch label ``lamina``). An
application keeps its own history in its own folder (branch label ``app``),
whose first revision depends on lamina's branch; ``upgrade`` goes to the heads
of both and ``downgrade(url, "base")`` removes everything::

    from lamina.persistence.migrations import MigrationConfig, upgrade

    app = MigrationConfig(versions=Path("migrations/versions"), metadata="myapp.rows:Base")
    await upgrade("postgresql+asyncpg://...", app=app)  # one query when up to date

The ``lamina db`` command does the same from ``[tool.lamina]`` in pyproject.toml
(see :func:`discover_config`): ``upgrade``, ``downgrade``, ``revision
--autogenerate``, ``current`` and ``check``.

Adding a revision to lamina itself
----------------------------------
When a change to lamina adds or alters one of its tables:

1. change the table in :mod:`lamina.persistence.tables` (every lamina table lives
   there, in ``lamina_metadata``, named ``lamina_...``);
2. run ``.venv/bin/python -m lamina.persistence.migrations "add event checkpoints"``
   (or ``await new_lamina_revision("...")``). It upgrades a scratch SQLite
   database to lamina's current head, compares it with ``lamina_metadata`` and
   writes ``versions/lamina_NNNN_add_event_checkpoints.py``;
3. read the file, tidy it, and run ``tests/persistence/test_migrations.py``:
   it fails, listing the differences, until lamina's revisions create exactly
   what ``lamina_metadata`` declares, on SQLite and on PostgreSQL.

Revisions render ``TypeDecorator`` columns as the SQLAlchemy type they store and
use batch operations, so one revision runs on SQLite and PostgreSQL alike.
"""

from lamina.persistence.migrations.authoring import new_lamina_revision
from lamina.persistence.migrations.commands import (
    AppliedRevision,
    check,
    current,
    downgrade,
    revision,
    upgrade,
)
from lamina.persistence.migrations.config import (
    MigrationConfig,
    MigrationError,
    database_url,
    discover_config,
)

__all__ = [
    "AppliedRevision",
    "MigrationConfig",
    "MigrationError",
    "check",
    "current",
    "database_url",
    "discover_config",
    "downgrade",
    "new_lamina_revision",
    "revision",
    "upgrade",
]
