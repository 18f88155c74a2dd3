"""Where an application's models and revisions are: :class:`MigrationConfig` and its discovery.

Discovery reads, highest precedence first: explicit arguments (the CLI's
``--metadata`` / ``--migrations``), the environment (``LAMINA_APP_METADATA`` /
``LAMINA_MIGRATIONS``), then ``[tool.lamina]`` in ``pyproject.toml`` of the
project directory::

    [tool.lamina]
    metadata = "myapp.rows:Base.metadata"
    migrations = "migrations/versions"

Relative folders in ``pyproject.toml`` are relative to that file; those given on
the command line or in the environment are relative to the current directory.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData

from lamina.project import ProjectSettingsError, tool_settings
from lamina.project import database_url as project_database_url

METADATA_VAR = "LAMINA_APP_METADATA"
MIGRATIONS_VAR = "LAMINA_MIGRATIONS"
DEFAULT_BRANCH = "app"


class MigrationError(Exception):
    """A migration could not run; the message says why and what to do (no traceback needed)."""


@dataclass(frozen=True)
class MigrationConfig:
    """An application's schema: its models and the folder of its revisions.

    ``metadata`` is a ``MetaData``, an object with a ``.metadata`` attribute (a
    ``DeclarativeBase`` subclass, ``SQLModel``), or an import path of either such
    as ``"myapp.rows:Base.metadata"``. It may be ``None`` for an application
    that writes its revisions by hand (then ``check`` and ``--autogenerate``
    cover lamina's tables only). ``branch`` is the Alembic branch label of the
    application's history; its first revision depends on lamina's branch.
    """

    versions: Path
    metadata: str | object | None = None
    branch: str = DEFAULT_BRANCH

    def __post_init__(self) -> None:
        object.__setattr__(self, "versions", Path(self.versions))

    @classmethod
    def beside(cls, base: type, *, folder: str = "migrations") -> MigrationConfig:
        """The schema of ``base`` (a declarative base or SQLModel table base, whose
        ``metadata`` it is), with its revisions in the ``migrations`` folder of the package
        that declares it: ``MigrationConfig.beside(LearningBase)`` for
        ``examples/learning/base.py`` is ``examples/learning/migrations``."""
        module = sys.modules[base.__module__]
        if module.__file__ is None:
            raise ValueError(f"{base.__name__}: its module {module.__name__} has no folder")
        return cls(versions=Path(module.__file__).parent / folder, metadata=base)

    def load_metadata(self) -> MetaData | None:
        """The application's ``MetaData``, importing it first when given as a path."""
        if self.metadata is None:
            return None
        target = import_object(self.metadata) if isinstance(self.metadata, str) else self.metadata
        return as_metadata(target, self.metadata)


def database_url(url: str | None = None) -> str:
    """``url``, else ``LAMINA_DATABASE_URL``, else ``database`` under ``[tool.lamina]``, else
    an SQLite file in the current directory (see :func:`lamina.project.database_url`)."""
    try:
        return project_database_url(url)
    except ProjectSettingsError as error:
        raise MigrationError(str(error)) from error


def discover_config(
    *,
    metadata: str | None = None,
    migrations: str | Path | None = None,
    project_dir: Path | None = None,
) -> MigrationConfig | None:
    """The application's :class:`MigrationConfig`, or ``None`` when none is configured.

    With ``None`` the commands manage lamina's own tables only. Raises
    :class:`MigrationError` when a metadata path is configured without a
    migrations folder.
    """
    root = Path.cwd() if project_dir is None else project_dir
    settings = _pyproject_settings(root)
    metadata = metadata or os.environ.get(METADATA_VAR) or settings.get("metadata")
    if migrations is None and os.environ.get(MIGRATIONS_VAR):
        migrations = os.environ[MIGRATIONS_VAR]
    if migrations is None and settings.get("migrations"):
        migrations = root / settings["migrations"]
    if migrations is None:
        if metadata is not None:
            raise MigrationError(
                f"metadata {metadata!r} is configured but no migrations folder: set "
                f"'migrations' under [tool.lamina], {MIGRATIONS_VAR} or --migrations"
            )
        return None
    _ensure_importable(root)
    return MigrationConfig(versions=Path(migrations), metadata=metadata)


def _pyproject_settings(root: Path) -> dict[str, str]:
    path = root / "pyproject.toml"
    try:
        section = tool_settings(root)
    except ProjectSettingsError as error:
        raise MigrationError(str(error)) from error
    settings: dict[str, str] = {}
    for key in ("metadata", "migrations"):
        value = section.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise MigrationError(f"[tool.lamina] {key} in {path} must be a string")
        settings[key] = value
    return settings


def _ensure_importable(root: Path) -> None:
    """Let ``package.module`` paths resolve from the project directory, as ``python -m`` does."""
    entry = str(root.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)


def import_object(path: str) -> object:
    """The object named by ``"package.module:attribute.attribute"``."""
    module_name, _, attributes = path.partition(":")
    if not module_name or not attributes:
        raise MigrationError(
            f"metadata path {path!r} must look like 'package.module:Base.metadata'"
        )
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise MigrationError(f"cannot import {module_name!r} (from {path!r}): {error}") from error
    for attribute in attributes.split("."):
        try:
            target = getattr(target, attribute)
        except AttributeError:
            raise MigrationError(
                f"{path!r}: {type(target).__name__} {getattr(target, '__name__', '')!s} "
                f"has no attribute {attribute!r}"
            ) from None
    return target


def as_metadata(target: object, described_as: object) -> MetaData:
    """``target`` itself when it is a ``MetaData``, else its ``.metadata`` attribute."""
    if isinstance(target, MetaData):
        return target
    candidate = getattr(target, "metadata", None)
    if isinstance(candidate, MetaData):
        return candidate
    raise MigrationError(
        f"{described_as!r} is neither a SQLAlchemy MetaData nor a class with a .metadata"
    )
