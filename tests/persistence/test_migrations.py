"""Migrations: lamina's revisions plus an application's, on SQLite and PostgreSQL.

Each PostgreSQL test runs in a database of its own, created for it and dropped
after it, so it starts clean and leaves no table, enum type or version row behind.
"""

from __future__ import annotations

import asyncio
import enum
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Enum,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    event,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from lamina.persistence.base import new_metadata
from lamina.persistence.migrations import (
    MigrationConfig,
    MigrationError,
    check,
    current,
    discover_config,
    downgrade,
    revision,
    upgrade,
)
from lamina.persistence.migrations.scripts import lamina_script_directory
from lamina.persistence.tables import lamina_metadata
from lamina.persistence.types import UTCDateTime

HERE = Path(__file__).parent
APP_VERSIONS = HERE / "migration_app" / "versions"
APP_METADATA = "migration_app.models:AppBase"
LAMINA_CLI = Path(sys.executable).parent / "lamina"
ADD_LAMINA_REVISION = 'run: python -m lamina.persistence.migrations "what changed"'


@pytest.fixture
def database_url(isolated_db_url: str) -> str:
    """A fresh database: SQLite file, or a PostgreSQL database of its own."""
    return isolated_db_url


@pytest.fixture
def sample_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The sample application's rows module, importable as ``migration_app.models``."""
    monkeypatch.syspath_prepend(str(HERE))
    import migration_app.models

    return migration_app.models


@pytest.fixture
def app(sample_app: ModuleType) -> MigrationConfig:
    return MigrationConfig(versions=APP_VERSIONS, metadata=APP_METADATA)


def open_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def enforce_foreign_keys(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

    return engine


async def schema_objects(url: str) -> tuple[set[str], set[str]]:
    """The database's table names and (on PostgreSQL) enum type names."""
    engine = open_engine(url)

    def read(connection: Any) -> tuple[set[str], set[str]]:
        inspector = inspect(connection)
        enums = inspector.get_enums() if connection.dialect.name == "postgresql" else []
        return set(inspector.get_table_names()), {item["name"] for item in enums}

    async with engine.connect() as connection:
        found = await connection.run_sync(read)
    await engine.dispose()
    return found


LAMINA_TABLES = set(lamina_metadata.tables)
LAMINA_HEAD = lamina_script_directory().get_current_head()
APP_TABLES = {"mig_projects", "mig_tasks"}


async def test_lamina_tables_round_trip(database_url: str) -> None:
    await upgrade(database_url)
    assert await schema_objects(database_url) == (LAMINA_TABLES | {"alembic_version"}, set())
    assert await check(database_url) == [], ADD_LAMINA_REVISION
    assert [found.branches for found in await current(database_url)] == [("lamina",)]

    await downgrade(database_url, "base")
    assert await schema_objects(database_url) == (set(), set())
    assert await current(database_url) == []

    await upgrade(database_url)
    assert await check(database_url) == [], ADD_LAMINA_REVISION


async def test_app_round_trip_creates_working_constraints(
    database_url: str, app: MigrationConfig, sample_app: ModuleType
) -> None:
    await upgrade(database_url, app=app)
    tables, enums = await schema_objects(database_url)
    assert tables == LAMINA_TABLES | APP_TABLES | {"alembic_version"}
    assert enums == ({"mig_task_priority"} if database_url.startswith("postgresql") else set())
    assert await check(database_url, app=app) == []
    applied = await current(database_url, app=app)
    assert {(found.id, found.branches, found.is_head) for found in applied} == {
        ("app_0001", ("app",), True),
        (LAMINA_HEAD, ("lamina",), True),
    }

    await assert_constraints_hold(database_url, sample_app)

    await downgrade(database_url, "base", app=app)
    assert await schema_objects(database_url) == (set(), set())

    await upgrade(database_url, app=app)
    assert await check(database_url, app=app) == []
    with pytest.raises(MigrationError, match="say which branch"):
        await downgrade(database_url, "-1", app=app)
    await downgrade(database_url, "app@-1", app=app)
    assert await schema_objects(database_url) == (LAMINA_TABLES | {"alembic_version"}, set())
    with pytest.raises(MigrationError, match="cannot reach"):
        await downgrade(database_url, "app@-1", app=app)


async def assert_constraints_hold(url: str, sample_app: ModuleType) -> None:
    """The migrated tables enforce the JSON, enum, CHECK, composite unique and FK rules."""
    projects: Table = sample_app.ProjectRow.__table__
    tasks: Table = sample_app.TaskRow.__table__
    project_id = uuid4()
    engine = open_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(projects),
                {"id": project_id, "workspace": "w", "name": "p", "settings": {"tags": ["a"]}},
            )
            await connection.execute(
                insert(tasks),
                {"project_id": project_id, "title": "t", "priority": sample_app.Priority.HIGH},
            )
            row = await connection.execute(select(projects.c.settings, projects.c.created_at))
            settings, created_at = row.one()
            assert settings == {"tags": ["a"]}
            assert created_at.tzinfo is not None
            stored = await connection.scalar(select(tasks.c.priority))
            assert stored is sample_app.Priority.HIGH
        task = {"project_id": project_id, "title": "x", "priority": sample_app.Priority.LOW}
        violations = [
            (projects, {"workspace": "w", "name": "p", "settings": {}}),  # composite unique
            (tasks, {**task, "rating": 6}),  # CHECK rating between 0 and 5
            (tasks, {**task, "project_id": uuid4()}),  # foreign key
        ]
        for table, values in violations:
            with pytest.raises(IntegrityError):
                async with engine.begin() as connection:
                    await connection.execute(insert(table), values)
    finally:
        await engine.dispose()


async def test_check_reports_drift(database_url: str, app: MigrationConfig) -> None:
    before = await check(database_url, app=app)
    assert before[0] == (
        f"database is at no revision, not yet at app_0001, {LAMINA_HEAD}: run `lamina db upgrade`"
    )
    assert {"add table mig_tasks", "add table lamina_events"} <= set(before)
    await upgrade(database_url, app=app)
    assert await check(database_url) == [
        "database has revisions app_0001 that are not in the configured migrations"
    ]  # without the app its tables are not reported, its revision is
    drifted = copy_metadata(app.load_metadata())
    drifted.tables["mig_tasks"].append_column(Column("estimate", Integer(), nullable=True))
    differences = await check(database_url, app=MigrationConfig(APP_VERSIONS, drifted))
    assert differences == ["add column mig_tasks.estimate (INTEGER)"]

    without_projects = copy_metadata(app.load_metadata())
    without_projects.remove(without_projects.tables["mig_projects"])
    differences = await check(database_url, app=MigrationConfig(APP_VERSIONS, without_projects))
    assert "remove table mig_projects" in differences


def copy_metadata(metadata: MetaData | None) -> MetaData:
    assert metadata is not None
    copied = new_metadata()
    for table in metadata.sorted_tables:
        table.to_metadata(copied)
    return copied


class Mood(enum.Enum):
    CALM = "calm"
    BUSY = "busy"


def notes_metadata(*, with_pinned: bool) -> MetaData:
    """A new application's models; the second version gains a column."""
    metadata = new_metadata()
    Table(
        "mig_notes",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("body", String(500), nullable=False),
        Column("mood", Enum(Mood, name="mig_note_mood"), nullable=False),
        Column("extra", JSON(), nullable=False),
        Column("written_at", UTCDateTime(), nullable=False),
        *([Column("pinned", Integer(), nullable=True)] if with_pinned else []),
    )
    return metadata


async def test_revision_autogenerate_for_a_new_app(database_url: str, tmp_path: Path) -> None:
    versions = tmp_path / "notes" / "versions"
    first = MigrationConfig(versions=versions, metadata=notes_metadata(with_pinned=False))
    with pytest.raises(MigrationError, match="does not exist"):
        await upgrade(database_url, app=first)
    await upgrade(database_url)

    created = await revision("notes", app=first, url=database_url, autogenerate=True)
    assert created is not None
    assert created.parent == versions.resolve()
    source = created.read_text()
    assert "branch_labels: str | Sequence[str] | None = ('app',)" in source
    assert "depends_on: str | Sequence[str] | None = 'lamina'" in source
    assert "sa.DateTime(timezone=True)" in source
    await upgrade(database_url, app=first)
    assert await check(database_url, app=first) == []
    assert await revision("nothing", app=first, url=database_url, autogenerate=True) is None

    second = MigrationConfig(versions=versions, metadata=notes_metadata(with_pinned=True))
    assert await check(database_url, app=second) == ["add column mig_notes.pinned (INTEGER)"]
    added = await revision("pin notes", app=second, url=database_url, autogenerate=True)
    assert added is not None
    await upgrade(database_url, app=second)
    assert await check(database_url, app=second) == []

    await downgrade(database_url, "app@-1", app=second)
    assert await check(database_url, app=second) == [
        f"database is at {created.name.split('_')[0]}, {LAMINA_HEAD}, "
        f"not yet at {added.name.split('_')[0]}: run `lamina db upgrade`",
        "add column mig_notes.pinned (INTEGER)",
    ]
    await downgrade(database_url, "base", app=second)
    assert await schema_objects(database_url) == (set(), set())
    await upgrade(database_url, app=second)
    assert await check(database_url, app=second) == []
    await downgrade(database_url, "base", app=second)


async def test_upgrade_when_up_to_date_only_reads_the_version(
    database_url: str, app: MigrationConfig
) -> None:
    await upgrade(database_url, app=app)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        await upgrade(database_url, app=app)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert 1 <= len(statements) <= 3, statements
    writes = ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER")
    assert not [sql for sql in statements if sql.lstrip().upper().startswith(writes)]


async def test_concurrent_upgrades_in_one_process(database_url: str, app: MigrationConfig) -> None:
    await asyncio.gather(*[upgrade(database_url, app=app) for _ in range(4)])
    assert await check(database_url, app=app) == []


@pytest.mark.postgres_only
async def test_concurrent_processes_upgrade_once(database_url: str, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    env = {"LAMINA_DATABASE_URL": database_url}
    results = await asyncio.gather(*[run_cli("upgrade", cwd=project, env=env) for _ in range(3)])
    assert [code for code, _ in results] == [0, 0, 0], results
    assert sum(output.count("Running upgrade  -> app_0001") for _, output in results) == 1


async def run_cli(
    *arguments: str, cwd: Path, env: dict[str, str], answer: str = "", command: str = "db"
) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(LAMINA_CLI),
        command,
        *arguments,
        cwd=cwd,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate(answer.encode())
    assert process.returncode is not None
    return process.returncode, output.decode()


def make_project(tmp_path: Path) -> Path:
    """A project directory with the sample app and ``[tool.lamina]`` in its pyproject.toml."""
    project = tmp_path / "project"
    shutil.copytree(HERE / "migration_app", project / "migration_app")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "sample"\n\n[tool.lamina]\n'
        f'metadata = "{APP_METADATA}"\nmigrations = "migration_app/versions"\n'
    )
    (project / "drifted.py").write_text(
        "from sqlalchemy import Column, Integer\n"
        "from migration_app.models import AppBase\n"
        "metadata = AppBase.metadata\n"
        "metadata.tables['mig_tasks'].append_column(Column('estimate', Integer()))\n"
    )
    return project


async def test_cli_upgrade_check_current_downgrade(database_url: str, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    env = {"LAMINA_DATABASE_URL": database_url}

    code, output = await run_cli("upgrade", cwd=project, env=env)
    assert code == 0, output
    assert "Running upgrade  -> app_0001" in output

    code, output = await run_cli("current", cwd=project, env=env)
    assert code == 0, output
    assert "app_0001 (app) (head)" in output
    assert f"{LAMINA_HEAD} (lamina) (head)" in output

    code, output = await run_cli("check", cwd=project, env=env)
    assert (code, output.strip()) == (0, "no drift: the database matches the models")

    drifted = {**env, "LAMINA_APP_METADATA": "drifted:metadata"}
    code, output = await run_cli("check", cwd=project, env=drifted)
    assert code == 1
    assert "add column mig_tasks.estimate (INTEGER)" in output

    code, output = await run_cli("downgrade", "base", cwd=project, env=env, answer="n\n")
    assert code == 1, output  # asked first, and the answer was no
    assert "Drop every table" in output
    assert await schema_objects(database_url) != (set(), set())

    code, output = await run_cli("downgrade", "base", "--yes", cwd=project, env=env)
    assert code == 0, output
    code, output = await run_cli("current", cwd=project, env=env)
    assert (code, output.strip()) == (0, "database has no revision (not migrated)")
    assert await schema_objects(database_url) == (set(), set())


async def test_cli_revision_takes_a_readable_id(database_url: str, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    env = {"LAMINA_DATABASE_URL": database_url, "LAMINA_APP_METADATA": "drifted:metadata"}
    code, output = await run_cli("upgrade", cwd=project, env=env)
    assert code == 0, output

    add_estimate = ("revision", "-m", "add estimate", "--autogenerate", "--rev-id", "app_0002")
    code, output = await run_cli(*add_estimate, cwd=project, env=env)
    assert code == 0, output
    written = project / "migration_app" / "versions" / "app_0002_add_estimate.py"
    assert f"wrote {written}" in output
    source = written.read_text()
    assert "revision: str = 'app_0002'" in source
    assert "down_revision: str | Sequence[str] | None = 'app_0001'" in source

    code, output = await run_cli("upgrade", cwd=project, env=env)
    assert code == 0, output
    assert "Running upgrade app_0001 -> app_0002" in output
    code, output = await run_cli("check", cwd=project, env=env)
    assert (code, output.strip()) == (0, "no drift: the database matches the models")

    for rev_id, message in [
        ("app_0002", "revision 'app_0002' already exists"),
        ("app 3", "revision id 'app 3' must be 1 to 32 letters, digits or underscores"),
    ]:
        again = ("revision", "-m", "again", "--rev-id", rev_id)
        code, output = await run_cli(*again, cwd=project, env=env)
        assert code == 1, output
        assert output.startswith(f"error: {message}"), output
    assert sorted(path.name for path in written.parent.glob("*.py")) == [
        "0001_projects_and_tasks.py",
        "app_0002_add_estimate.py",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("check", "--metadata", "no_such_module:Base"), "cannot import 'no_such_module'"),
        (("check", "--metadata", "migration_app.models:Nope"), "has no attribute 'Nope'"),
        (("check", "--metadata", "migration_app.models"), "must look like"),
        (("upgrade", "--migrations", "missing/versions"), "does not exist"),
        (("current", "--url", "postgresql+asyncpg://u:secret@127.0.0.1:1/x"), "cannot connect"),
        (("current", "--url", "mysql://u:secret@127.0.0.1/x"), "unsupported database"),
        (("revision", "-m", "x", "--autogenerate", "--metadata", "nope:Base"), "cannot import"),
    ],
)
async def test_cli_errors_are_messages_not_tracebacks(
    tmp_path: Path, arguments: tuple[str, ...], message: str
) -> None:
    project = make_project(tmp_path)
    env = {"LAMINA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    code, output = await run_cli(*arguments, cwd=project, env=env)
    assert code == 1, output
    assert output.startswith("error: "), output
    assert message in output, output
    assert "Traceback" not in output
    assert "secret" not in output


@pytest.mark.parametrize(
    "arguments",
    [
        ("db", "current"),
        ("db", "check"),
        ("db", "downgrade", "base", "--yes"),
        ("events", "status"),
        ("events", "tail", "--no-follow"),
        ("events", "dead-letters"),
    ],
)
async def test_commands_that_read_a_missing_database_say_so_and_create_nothing(
    tmp_path: Path, arguments: tuple[str, ...]
) -> None:
    project = make_project(tmp_path)
    missing = tmp_path / "nothing here" / "app.db"
    env = {"LAMINA_DATABASE_URL": f"sqlite+aiosqlite:///{missing}"}
    code, output = await run_cli(*arguments[1:], cwd=project, env=env, command=arguments[0])
    assert (code, output.count("\n")) == (1, 1), output
    assert output.startswith(f"error: no database at {missing}")
    assert not missing.exists()
    assert not missing.parent.exists()


async def test_events_commands_report_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    env = {"LAMINA_DATABASE_URL": "postgresql+asyncpg://u:secret@127.0.0.1:1/x"}
    for arguments in (("status",), ("dead-letters",), ("tail", "--no-follow")):
        code, output = await run_cli(*arguments, cwd=tmp_path, env=env, command="events")
        assert (code, output.count("\n")) == (1, 1), output
        assert output.startswith("error: ")
        assert "secret" not in output


def test_discovery_reads_pyproject_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAMINA_APP_METADATA", raising=False)
    monkeypatch.delenv("LAMINA_MIGRATIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert discover_config(project_dir=tmp_path) is None

    (tmp_path / "pyproject.toml").write_text(
        '[tool.lamina]\nmetadata = "pkg.rows:Base"\nmigrations = "db/versions"\n'
    )
    found = discover_config(project_dir=tmp_path)
    assert found == MigrationConfig(versions=tmp_path / "db" / "versions", metadata="pkg.rows:Base")

    monkeypatch.setenv("LAMINA_APP_METADATA", "other.rows:Base")
    monkeypatch.setenv("LAMINA_MIGRATIONS", "env/versions")
    found = discover_config(project_dir=tmp_path)
    assert found == MigrationConfig(versions=Path("env/versions"), metadata="other.rows:Base")

    found = discover_config(metadata="cli.rows:Base", migrations="cli/v", project_dir=tmp_path)
    assert found == MigrationConfig(versions=Path("cli/v"), metadata="cli.rows:Base")

    monkeypatch.delenv("LAMINA_MIGRATIONS")
    (tmp_path / "pyproject.toml").write_text('[tool.lamina]\nmetadata = "pkg.rows:Base"\n')
    with pytest.raises(MigrationError, match="no migrations folder"):
        discover_config(project_dir=tmp_path)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ("no_such_module:Base", "cannot import"),
        ("migration_app.models:Missing", "has no attribute"),
        ("migration_app.models", "must look like"),
        ("migration_app.models:Priority", "neither a SQLAlchemy MetaData"),
    ],
)
def test_bad_metadata_paths_raise_migration_errors(
    sample_app: ModuleType, metadata: str, message: str
) -> None:
    with pytest.raises(MigrationError, match=message):
        MigrationConfig(versions=APP_VERSIONS, metadata=metadata).load_metadata()


def test_metadata_accepts_a_path_a_base_or_a_metadata(sample_app: ModuleType) -> None:
    loaders: list[Callable[[], MetaData | None]] = [
        MigrationConfig(APP_VERSIONS, APP_METADATA).load_metadata,
        MigrationConfig(APP_VERSIONS, f"{APP_METADATA}.metadata").load_metadata,
        MigrationConfig(APP_VERSIONS, sample_app.AppBase).load_metadata,
        MigrationConfig(APP_VERSIONS, sample_app.AppBase.metadata).load_metadata,
    ]
    assert {id(load()) for load in loaders} == {id(sample_app.AppBase.metadata)}


def test_a_schemas_revisions_beside_its_declarative_base(sample_app: ModuleType) -> None:
    base = sample_app.AppBase
    config = MigrationConfig.beside(base, folder="versions")
    assert config.versions == APP_VERSIONS
    assert config.load_metadata() is base.metadata
