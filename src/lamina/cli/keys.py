"""``lamina keys``: make new keys, see which keys still protect stored values, rotate.

``new`` prints a fresh keyring entry to add to ``LAMINA_KEYS`` (or the key file
of ``LAMINA_KEYS_FILE``); ``status`` counts, per table and column, the values
each key id protects, so a key is removed only once nothing needs it; ``rotate``
re-encrypts every value not under the active key (online, in batches,
resumable: see :mod:`lamina.persistence.key_rotation`); ``reindex`` recomputes
blind indexes under a new blind-index key. The
application's tables are found from ``--metadata``, else ``$LAMINA_APP_METADATA``,
else ``metadata`` under ``[tool.lamina]`` in ``./pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import MetaData

from lamina.cli.options import CommandError, Url, existing_database, reported_errors
from lamina.cli.progress import ProgressBar
from lamina.domain.errors import EncryptionKeyMissing
from lamina.persistence import Database, Keyring, KeyringError, new_key
from lamina.persistence.key_rotation import (
    DEFAULT_BATCH_SIZE,
    RotationReport,
    reindex_blind_indexes,
    rotate_keys,
)
from lamina.persistence.key_usage import KeyUsage, encrypted_columns, key_usage
from lamina.persistence.keyring import INDEX_ENTRY, check_key_id
from lamina.persistence.migrations import MigrationError
from lamina.persistence.migrations.config import METADATA_VAR, as_metadata, import_object
from lamina.project import ProjectSettingsError, tool_settings

app = typer.Typer(
    help="Encryption keys: make a new one, see which keys stored values still need, rotate.",
    no_args_is_help=True,
)


@app.command()
def new(
    key_id: Annotated[
        str | None,
        typer.Option("--id", help="The key's id. [default: k<date>-<random>]"),
    ] = None,
    index: Annotated[
        bool, typer.Option("--index", help="A blind-index key (LAMINA_INDEX_KEY) instead.")
    ] = False,
) -> None:
    """Print a fresh random 256-bit key as a keyring entry, 'id=key'.

    Put it first in LAMINA_KEYS (or the key file) to make it the active key; keep
    the older entries after it until 'lamina keys status' shows they protect nothing.
    """
    with reported_errors(KeyringError):
        if index:
            typer.echo(f"{INDEX_ENTRY}={new_key()}")
            return
        chosen = key_id or f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(2)}"
        typer.echo(f"{check_key_id(chosen)}={new_key()}")


Metadata = Annotated[
    str | None,
    typer.Option(
        "--metadata",
        help="Import path of the app's MetaData or declarative base, 'pkg.module:Base'; "
        "else $LAMINA_APP_METADATA, else 'metadata' under tool.lamina in ./pyproject.toml.",
    ),
]


@app.command()
def status(url: Url = None, metadata: Metadata = None) -> None:
    """How many values each key id protects, per table and column, and which keys can go."""
    with reported_errors(KeyringError, MigrationError, ProjectSettingsError):
        tables = _app_metadata(metadata)
        keyring = Keyring.from_env()
        usage = asyncio.run(_usage(existing_database(url), tables))
    for line in status_lines(usage, keyring):
        typer.echo(line)


@app.command()
def rotate(
    url: Url = None,
    metadata: Metadata = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows per transaction.")
    ] = DEFAULT_BATCH_SIZE,
    pause: Annotated[
        float, typer.Option("--pause", min=0.0, help="Seconds to wait between batches.")
    ] = 0.0,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="A progress bar on stderr.")
    ] = True,
) -> None:
    """Re-encrypt every value not under the active key (the first in LAMINA_KEYS).

    Online: the application keeps running; each batch of rows is a short
    transaction, and a value written meanwhile is never overwritten. Interrupted,
    it is finished by running it again. Neither versions nor audit entries change.
    Exit status 1 if some values could not be re-encrypted (listed).
    """
    with reported_errors(KeyringError, EncryptionKeyMissing, MigrationError, ProjectSettingsError):
        tables = _app_metadata(metadata)
        keyring = Keyring.from_env()
        if keyring.active_id is None:
            raise CommandError("no active key: configure LAMINA_KEYS (or LAMINA_KEYS_FILE)")
        bar = ProgressBar(f"rotating to {keyring.active_id}") if progress else None
        started = time.monotonic()
        try:
            report, usage = asyncio.run(
                _rotate(existing_database(url), tables, keyring, batch_size, pause, bar)
            )
        finally:
            if bar is not None:
                bar.close()
    for line in rotation_lines(report, time.monotonic() - started):
        typer.echo(line)
    for line in status_lines(usage, keyring):
        typer.echo(line)
    if report.failures:
        raise typer.Exit(1)


async def _rotate(
    url: str,
    tables: MetaData,
    keyring: Keyring,
    batch_size: int,
    pause: float,
    bar: ProgressBar | None,
) -> tuple[RotationReport, list[KeyUsage]]:
    columns = encrypted_columns(tables)
    async with Database(url, keyring=keyring) as db:
        report = await rotate_keys(
            db,
            columns,
            batch_size=batch_size,
            pause=pause,
            progress=None if bar is None else bar.update,
        )
        return report, await key_usage(db, columns)


def rotation_lines(report: RotationReport, seconds: float) -> list[str]:
    """The report of ``lamina keys rotate``: values rotated per column, failures, the total."""
    lines = [f"{table}.{column}  rotated {n}" for (table, column), n in report.rotated.items()]
    lines += [
        f"{f.table}.{f.column}  row {f.row_id}: not rotated ({f.reason})" for f in report.failures
    ]
    total = report.total_rotated
    rate = total / seconds if seconds > 0 else 0.0
    lines.append(
        f"rotated {total} values to key {report.active_key} in {seconds:.1f} s ({rate:,.0f}/s)"
        + (f"; {len(report.failures)} could not be rotated" if report.failures else "")
    )
    return lines


@app.command()
def reindex(
    url: Url = None,
    metadata: Metadata = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows per transaction.")
    ] = DEFAULT_BATCH_SIZE,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="A progress bar on stderr.")
    ] = True,
) -> None:
    """Recompute every blind index (<column>_bidx) under the blind-index key now configured.

    How the blind-index key is changed: stop the application's writes, set the new
    LAMINA_INDEX_KEY, run this, start the application with that key. Until it has
    finished, lookups compare digests made under two keys. Running it again is safe.
    """
    with reported_errors(KeyringError, EncryptionKeyMissing, MigrationError, ProjectSettingsError):
        tables = _app_metadata(metadata)
        keyring = Keyring.from_env()
        bar = ProgressBar("reindexing") if progress else None
        started = time.monotonic()
        try:
            report = asyncio.run(_reindex(existing_database(url), tables, keyring, batch_size, bar))
        finally:
            if bar is not None:
                bar.close()
    lines = [f"{table}.{column}  reindexed {n}" for (table, column), n in report.rotated.items()]
    lines += [
        f"{f.table}.{f.column}  row {f.row_id}: not reindexed ({f.reason})" for f in report.failures
    ]
    lines.append(
        f"recomputed {report.total_rotated} digests in {time.monotonic() - started:.1f} s"
        + (f"; {len(report.failures)} values could not be read" if report.failures else "")
    )
    for line in lines:
        typer.echo(line)
    if report.failures:
        raise typer.Exit(1)


async def _reindex(
    url: str, tables: MetaData, keyring: Keyring, batch_size: int, bar: ProgressBar | None
) -> RotationReport:
    async with Database(url, keyring=keyring) as db:
        return await reindex_blind_indexes(
            db,
            encrypted_columns(tables),
            batch_size=batch_size,
            progress=None if bar is None else bar.update,
        )


def _app_metadata(path: str | None) -> MetaData:
    found = path or os.environ.get(METADATA_VAR) or tool_settings(Path.cwd()).get("metadata")
    if not found:
        raise CommandError(
            f"no application tables: pass --metadata, set {METADATA_VAR} "
            "or 'metadata' under [tool.lamina] in pyproject.toml"
        )
    return as_metadata(import_object(found), found)


async def _usage(url: str, tables: MetaData) -> list[KeyUsage]:
    async with Database(url, keyring=Keyring()) as db:
        return await key_usage(db, encrypted_columns(tables))


def status_lines(usage: list[KeyUsage], keyring: Keyring) -> list[str]:
    """The report of ``lamina keys status``: one line per column and key, then per key."""
    if not usage and not keyring.key_ids:
        return ["no encrypted values and no keys configured"]
    lines = [f"{u.table}.{u.column}  {u.key_id}  {u.values}" for u in usage]
    totals: Counter[str] = Counter()
    for u in usage:
        totals[u.key_id] += u.values
    for key_id in keyring.key_ids:
        totals.setdefault(key_id, 0)
    for key_id, count in sorted(totals.items()):
        if key_id == keyring.active_id:
            note = "active"
        elif key_id not in keyring.key_ids:
            note = "MISSING from the keyring: these values cannot be read"
        elif count == 0:
            note = "protects nothing: can be removed"
        else:
            note = "still needed: re-encrypt these values before removing it"
        lines.append(f"key {key_id}: {count} values ({note})")
    return lines
