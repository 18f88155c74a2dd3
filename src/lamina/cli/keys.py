"""``lamina keys``: make new keys and see which keys still protect stored values.

``new`` prints a fresh keyring entry to add to ``LAMINA_KEYS`` (or the key file
of ``LAMINA_KEYS_FILE``); ``status`` counts, per table and column, the values
each key id protects, so a key is removed only once nothing needs it. The
application's tables are found from ``--metadata``, else ``$LAMINA_APP_METADATA``,
else ``metadata`` under ``[tool.lamina]`` in ``./pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import MetaData

from lamina.cli.options import CommandError, Url, existing_database, reported_errors
from lamina.persistence import Database, Keyring, KeyringError, new_key
from lamina.persistence.key_usage import KeyUsage, encrypted_columns, key_usage
from lamina.persistence.keyring import INDEX_ENTRY, check_key_id
from lamina.persistence.migrations import MigrationError
from lamina.persistence.migrations.config import METADATA_VAR, as_metadata, import_object
from lamina.project import ProjectSettingsError, tool_settings

app = typer.Typer(
    help="Encryption keys: make a new one, see which keys stored values still need.",
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
