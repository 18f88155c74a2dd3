"""Encrypted fields: the cost of get, list page, cursor page and insert vs the same entity
unencrypted.

Usage (from the project root)::

    .venv/bin/python -m benchmarks.encryption_bench [--database-url URL] [--quick]

The database defaults to ``LAMINA_BENCH_POSTGRES_URL`` (else the local
PostgreSQL ``test`` database); ``sqlite`` runs on a temporary SQLite file. Two
tables of the same shape are created there, loaded, ``ANALYZE``-d (so the
planner has statistics for both and chooses their plans alike) and dropped
afterwards: contacts with a name, an email and notes, in one as plain text (the
email indexed), in the other ``ENCRYPTED`` (the email with a blind index).

Each operation is measured call by call, the plain and the encrypted variant
**alternating** (plain first in one pair, encrypted first in the next) and
given the same arguments (the same row for a get, the same offset for a list
page, the same position for a cursor page), so both see the same machine load
and caches. The report gives the median latency of each and their ratio
encrypted / plain (target: under 1.15 on PostgreSQL). ``--explain`` prints the
plans of both list pages. Then the encrypted table is rotated to a new key and
back a few times (``rotate_keys``, the work of ``lamina keys rotate``), and
the median values re-encrypted per second is reported.
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
KINDS = ("plain", "encrypted")


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


Operation = Callable[[int], Awaitable[object]]
"""One call, given the index of a row (or page, or position) to use."""


class Variant:
    """The measured operations on one table."""

    def __init__(self, db: Database, kind: str) -> None:
        self.repo: Any = PlainContacts(db) if kind == "plain" else SecretContacts(db)
        self.entity: Any = PlainContact if kind == "plain" else SecretContact
        self.table = (PlainContactRow if kind == "plain" else SecretContactRow).__tablename__
        self.ids: list[Any] = []
        self.cursors: list[str | None] = []
        self.inserted = 0

    async def load(self) -> None:
        stored = await self.repo.add_many(
            [
                self.entity(name=f"contact {i}", email=f"c{i}@example.org", notes="notes " * 8)
                for i in range(ROWS)
            ]
        )
        self.ids = [e.id for e in stored]

    async def walk(self) -> None:
        """The cursor of every keyset page (walked once, then picked at random)."""
        cursor: str | None = None
        self.cursors = [None]
        while True:
            page = await self.repo.keyset_page(limit=PAGE, cursor=cursor)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            self.cursors.append(cursor)
        self.cursors = self.cursors[:-1]  # a full page after each

    async def get(self, i: int) -> object:
        return await self.repo.get(self.ids[i % len(self.ids)])

    async def page(self, i: int) -> object:
        return await self.repo.page(limit=PAGE, offset=i % (ROWS - PAGE))

    async def cursor_page(self, i: int) -> object:
        return await self.repo.keyset_page(limit=PAGE, cursor=self.cursors[i % len(self.cursors)])

    async def insert(self, i: int) -> object:
        self.inserted += 1
        return await self.repo.add(
            self.entity(name=f"new {i}", email=f"new{i}@x.org", notes="a note")
        )

    def operations(self) -> dict[str, Operation]:
        return {
            "get": self.get,
            "list page (offset)": self.page,
            "cursor page (keyset)": self.cursor_page,
            "insert": self.insert,
        }


async def paired(ops: dict[str, Operation], calls: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of each call, the variants alternating call by call with the same argument."""
    samples: dict[str, list[float]] = {kind: [] for kind in ops}
    clock = time.perf_counter
    for n in range(warmup + calls):
        arg = random.randrange(10**9)
        order = KINDS if n % 2 == 0 else KINDS[::-1]
        for kind in order:
            start = clock()
            await ops[kind](arg)
            elapsed = clock() - start
            if n >= warmup:
                samples[kind].append(elapsed)
    return samples


async def analyze(db: Database, tables: list[str]) -> None:
    """``ANALYZE`` the tables (so both get planner statistics before anything is measured)."""
    async with db.connection(writes=True) as conn:
        for table in tables:
            await conn.execute(f"ANALYZE {table}", ())


async def explain(db: Database, variants: dict[str, Variant]) -> str:
    """The plans of the list page of both tables (PostgreSQL)."""
    out = []
    async with db.connection() as conn:
        for kind, v in variants.items():
            sql = (
                f"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM {v.table} "
                f"ORDER BY id LIMIT {PAGE} OFFSET {ROWS // 2}"
            )
            rows = await conn.fetch(sql, ())
            width = await conn.fetch(f"SELECT avg(pg_column_size(t.*)) FROM {v.table} t", ())
            out.append(f"-- {kind}: average row {float(width[0][0]):.0f} bytes")
            out += [str(r[0]) for r in rows]
    return "\n".join(out)


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


Result = tuple[str, float, float, float]
"""An operation, the median seconds of a plain and of an encrypted call, and the median
ratio encrypted / plain of the calls made side by side (robust to the machine's load
changing during the run)."""


async def run(url: str, calls: int, rounds: int, show_plans: bool) -> tuple[list[Result], float]:
    """Median seconds per call of each operation, plain and encrypted; values rotated per second."""
    keyring = Keyring.parse(f"bench={BENCH_KEY},index={new_key()}")
    postgres = url.startswith("postgresql")
    async with Database(url, keyring=keyring) as db:
        await db.drop_all(Rows.metadata)
        await db.create_all(Rows.metadata)
        try:
            variants = {kind: Variant(db, kind) for kind in KINDS}
            for v in variants.values():
                await v.load()
            if postgres:
                await analyze(db, [v.table for v in variants.values()])
            for v in variants.values():
                await v.walk()
            if show_plans and postgres:
                print(await explain(db, variants), file=sys.stderr, flush=True)
            results = []
            names = list(variants["plain"].operations())
            for name in names:
                ops = {kind: v.operations()[name] for kind, v in variants.items()}
                samples = await paired(ops, calls, warmup=max(calls // 10, 20))
                pairs = zip(samples["encrypted"], samples["plain"], strict=True)
                results.append(
                    (
                        name,
                        median(samples["plain"]),
                        median(samples["encrypted"]),
                        median(e / p for e, p in pairs),
                    )
                )
                print(f"measured {name}", file=sys.stderr, flush=True)
            return results, await rotation_rate(db, rounds)
        finally:
            await db.drop_all(Rows.metadata)


def report(url: str, calls: int, results: list[Result], rotation: float) -> str:
    """The markdown table of the results."""
    lines = [
        f"Encrypted fields vs plain ({url.split('://')[0]}), median of {calls:,} alternating"
        " calls each",
        "",
        "| operation | plain µs | encrypted µs | ratio of medians | overhead |"
        " median paired ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, plain, encrypted, paired_ratio in results:
        ratio = encrypted / plain
        lines.append(
            f"| {name} | {plain * 1e6:,.0f} | {encrypted * 1e6:,.0f} | {ratio:.3f} "
            f"| {ratio - 1:+.1%} | {paired_ratio:.3f} |"
        )
    lines += ["", f"Key rotation: {rotation:,.0f} values re-encrypted per second"]
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None, help="'sqlite' for a temporary file")
    parser.add_argument("--quick", action="store_true", help="Fewer calls.")
    parser.add_argument("--calls", type=int, default=None, help="Calls per variant and operation.")
    parser.add_argument("--explain", action="store_true", help="Print the list page plans.")
    args = parser.parse_args()
    url = args.database_url or os.environ.get(POSTGRES_URL_VAR) or DEFAULT_POSTGRES_URL
    calls, rounds = (200, 3) if args.quick else (1500, 5)
    calls = args.calls or calls
    with tempfile.TemporaryDirectory() as folder:
        if url == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        print(report(url, calls, *asyncio.run(run(url, calls, rounds, args.explain))))


if __name__ == "__main__":
    main()
