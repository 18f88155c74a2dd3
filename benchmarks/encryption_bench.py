"""Encrypted fields: the cost of get, list page and insert vs the same entity unencrypted.

Usage (from the project root)::

    .venv/bin/python -m benchmarks.encryption_bench [--database-url URL] [--quick]

The database defaults to ``LAMINA_BENCH_POSTGRES_URL`` (else the local
PostgreSQL ``test`` database); ``sqlite`` runs on a temporary SQLite file. Two
tables of the same shape are created there and dropped afterwards: contacts
with a name, an email and notes, in one as plain text (the email indexed), in
the other ``ENCRYPTED`` (the email with a blind index). Rounds of both
alternate, and the median round of each is reported with the ratio
encrypted / plain (target: under 15% overhead on PostgreSQL). Then the
encrypted table is rotated to a new key and back a few times (``rotate_keys``,
the work of ``lamina keys rotate``), and the median values re-encrypted per
second is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from statistics import median
from typing import Annotated, Any
from uuid import UUID

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lamina.domain import ENCRYPTED, Entity, Timestamped, Versioned
from lamina.persistence import (
    Database,
    Keyring,
    Repository,
    StandardColumns,
    blind_index_column,
    encrypted_column,
    encrypted_columns,
    new_key,
    new_metadata,
    rotate_keys,
)

POSTGRES_URL_VAR = "LAMINA_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ROWS = 2_000
PAGE = 50
BENCH_KEY = new_key()


class PlainContact(Timestamped, Versioned, Entity):
    """A contact stored as plain text."""

    name: str
    email: str
    notes: str | None = None


class SecretContact(Timestamped, Versioned, Entity):
    """The same contact, its email and notes encrypted."""

    name: str
    email: Annotated[str, ENCRYPTED]
    notes: Annotated[str | None, ENCRYPTED] = None


class Rows(DeclarativeBase):
    """The benchmark's own tables."""

    metadata = new_metadata()


class PlainContactRow(StandardColumns, Rows):
    """Plain columns."""

    __tablename__ = "bench_plain_contacts"
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), index=True)
    notes: Mapped[str | None] = mapped_column(String(500))


class SecretContactRow(StandardColumns, Rows):
    """Encrypted columns and a blind index."""

    __tablename__ = "bench_secret_contacts"
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = encrypted_column()
    email_bidx: Mapped[str | None] = blind_index_column()
    notes: Mapped[str | None] = encrypted_column(nullable=True)


class PlainContacts(Repository[PlainContact, PlainContactRow]):
    """Reads and writes of plain contacts."""


class SecretContacts(Repository[SecretContact, SecretContactRow]):
    """Reads and writes of encrypted contacts."""


Operation = Callable[[], Awaitable[object]]


def operations(db: Database, kind: str, ids: list[UUID]) -> dict[str, Operation]:
    """The measured operations on one table."""
    repo: Any = PlainContacts(db) if kind == "plain" else SecretContacts(db)
    entity: Any = PlainContact if kind == "plain" else SecretContact
    counter = iter(range(10**9))

    async def get() -> object:
        return await repo.get(random.choice(ids))

    async def page() -> object:
        return await repo.page(limit=PAGE, offset=random.randrange(0, ROWS - PAGE))

    async def insert() -> object:
        n = next(counter)
        return await repo.add(entity(name=f"new {n}", email=f"new{n}@x.org", notes="a note"))

    return {"get": get, "list page": page, "insert": insert}


async def rate(operation: Operation, seconds: float) -> float:
    """Calls per second of ``operation`` over ``seconds``."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
        await operation()
        calls += 1
    return calls / elapsed


async def rotation_rate(db: Database, rounds: int) -> float:
    """Median values per second re-encrypted by ``rotate_keys``, between two keys in turn."""
    one, other = new_key(), new_key()
    rates = []
    for r in range(rounds):
        to, back = ("one", "other") if r % 2 == 0 else ("other", "one")
        keys = {"one": one, "other": other}
        db.keyring = Keyring.parse(f"{to}={keys[to]},{back}={keys[back]},bench={BENCH_KEY}")
        start = time.perf_counter()
        report = await rotate_keys(db, encrypted_columns(Rows.metadata))
        rates.append(report.total_rotated / (time.perf_counter() - start))
    return median(rates)


async def run(
    url: str, rounds: int, seconds: float
) -> tuple[list[tuple[str, float, float]], float]:
    """Median calls per second of each operation, plain and encrypted; values rotated per second."""
    keyring = Keyring.parse(f"bench={BENCH_KEY},index={new_key()}")
    async with Database(url, keyring=keyring) as db:
        await db.drop_all(Rows.metadata)
        await db.create_all(Rows.metadata)
        try:
            ops = {}
            for kind, repo, entity in (
                ("plain", PlainContacts(db), PlainContact),
                ("encrypted", SecretContacts(db), SecretContact),
            ):
                stored = await repo.add_many(
                    [
                        entity(name=f"contact {i}", email=f"c{i}@example.org", notes="notes " * 8)
                        for i in range(ROWS)
                    ]
                )
                ops[kind] = operations(db, kind, [e.id for e in stored])
            results = []
            for name in ops["plain"]:
                samples: dict[str, list[float]] = {"plain": [], "encrypted": []}
                for kind in ("plain", "encrypted"):  # warm-up
                    await rate(ops[kind][name], seconds / 3)
                for r in range(rounds):
                    order = ("plain", "encrypted") if r % 2 == 0 else ("encrypted", "plain")
                    for kind in order:
                        samples[kind].append(await rate(ops[kind][name], seconds))
                results.append((name, median(samples["plain"]), median(samples["encrypted"])))
                print(f"measured {name}", file=sys.stderr, flush=True)
            return results, await rotation_rate(db, rounds)
        finally:
            await db.drop_all(Rows.metadata)


def report(url: str, results: list[tuple[str, float, float]], rotation: float) -> str:
    """The markdown table of the results."""
    lines = [
        f"Encrypted fields vs plain ({url.split('://')[0]}), median calls per second",
        "",
        "| operation | plain | encrypted | overhead |",
        "|---|---:|---:|---:|",
    ]
    for name, plain, encrypted in results:
        overhead = plain / encrypted - 1
        lines.append(f"| {name} | {plain:,.0f} | {encrypted:,.0f} | {overhead:+.1%} |")
    lines += ["", f"Key rotation: {rotation:,.0f} values re-encrypted per second"]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="'sqlite' for a temporary file")
    parser.add_argument("--quick", action="store_true", help="Fewer, shorter rounds.")
    args = parser.parse_args()
    url = args.database_url or os.environ.get(POSTGRES_URL_VAR) or DEFAULT_POSTGRES_URL
    rounds, seconds = (3, 0.3) if args.quick else (7, 1.0)
    with tempfile.TemporaryDirectory() as folder:
        if url == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        print(report(url, *asyncio.run(run(url, rounds, seconds))))


if __name__ == "__main__":
    main()
