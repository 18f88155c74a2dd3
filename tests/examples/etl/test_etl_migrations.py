"""The service's revision history creates exactly its SQLModel tables and goes back down; a
field added to a SQLModel table becomes a revision through ``lamina db revision
--autogenerate`` that upgrades, downgrades and upgrades again with ``check`` clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from examples.etl.rows import EtlTable

from lamina.persistence.migrations import MigrationConfig, check, current, downgrade, upgrade

ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS = ROOT / "examples" / "etl" / "migrations"
V1 = "examples.etl.rows:EtlTable.metadata"
V2 = "etl_rows_v2:metadata"


async def test_migrations_create_exactly_the_sqlmodel_tables(isolated_db_url: str) -> None:
    app = MigrationConfig(versions=MIGRATIONS, metadata=EtlTable.metadata)
    await upgrade(isolated_db_url, app=app)
    assert await check(isolated_db_url, app=app) == []
    await downgrade(isolated_db_url, "base", app=app)
    assert await current(isolated_db_url, app=app) == []
    await upgrade(isolated_db_url, app=app)
    assert await check(isolated_db_url, app=app) == []


def lamina_db(*args: str, url: str, metadata: str, versions: Path) -> str:
    """Run ``lamina db ARGS`` as a user would; its output (it must succeed)."""
    path = [str(ROOT / "src"), str(ROOT), str(Path(__file__).parent)]  # this checkout's lamina
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    command = [str(Path(sys.executable).parent / "lamina"), "db", *args]
    command += ["--url", url, "--metadata", metadata, "--migrations", str(versions)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr


async def test_a_field_added_to_a_sqlmodel_table_migrates_up_down_and_up(
    isolated_db_url: str, tmp_path: Path
) -> None:
    versions = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, versions)
    url = isolated_db_url
    lamina_db("upgrade", url=url, metadata=V1, versions=versions)

    lamina_db(
        "revision",
        "--autogenerate",
        "-m",
        "job timeout",
        "--rev-id",
        "etl_timeout",
        url=url,
        metadata=V2,
        versions=versions,
    )
    written = (versions / "etl_timeout_job_timeout.py").read_text()
    assert "add_column" in written
    assert "timeout_s" in written
    assert "drop_column('timeout_s')" in written.replace('"', "'")

    for step in (["upgrade"], ["downgrade", "app@-1"], ["upgrade"]):
        lamina_db(*step, url=url, metadata=V2, versions=versions)
    lamina_db("check", url=url, metadata=V2, versions=versions)  # exit 0: no drift
    applied = lamina_db("current", url=url, metadata=V2, versions=versions)
    assert "etl_timeout" in applied
