"""Key rotation: every encrypted value not under the active key, sealed again under it.

:func:`rotate_keys` walks each table holding encrypted columns (found like
``lamina keys status`` finds them: :func:`~lamina.persistence.encrypted_columns`)
in primary-key order, a batch of rows per transaction, and re-encrypts the
values whose header names another key than the keyring's active one.

- **Online.** Each batch is a short transaction of its own; the service keeps
  reading and writing meanwhile. A batch's rows are locked as it reads them
  (``FOR UPDATE`` on PostgreSQL; SQLite's write lock), and each value is
  written back only if the column still holds the ciphertext that was read (a
  compare-and-set): a write that got in between is never overwritten.
- **Not a domain change.** The plaintext does not change, so neither do the
  row's ``version``, ``updated_at`` or actors, and no audit entry or event is
  written: a client's ``ETag`` / ``If-Match`` stays valid across a rotation.
  Blind-index digests depend on the plaintext and the index key only, so they
  stay as they are.
- **Resumable.** What remains to do is read from the data itself (the key id
  in each value's header), so a rotation that was interrupted, even by
  SIGKILL, is finished by running it again; each committed batch is kept, an
  interrupted one rolled back whole.
- **Failures** (a value under a key the keyring lacks, a value altered in the
  table) are reported per value and left as they are; the rest is rotated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby
from typing import Any

from sqlalchemy import Column, Integer, String, Table, bindparam, func, or_, select, update

from lamina.domain.errors import DecryptionFailed, EncryptionKeyMissing
from lamina.persistence.database import Database
from lamina.persistence.encryption import FORMAT_VERSION, reencrypt
from lamina.persistence.key_usage import key_usage
from lamina.persistence.unit_of_work import UnitOfWork

DEFAULT_BATCH_SIZE = 1000
"""Rows per transaction: large enough to amortise round trips, short enough (some
milliseconds) not to keep the rows' writers waiting."""

Progress = Callable[[int, int], None]
"""Called after each batch with (values done, values to do at the start), and with
(to do, to do) at the end (values the service rewrote meanwhile needed nothing)."""


@dataclass(frozen=True, slots=True)
class RotationFailure:
    """A value that could not be re-encrypted, and why (it is left as it was)."""

    table: str
    column: str
    row_id: str
    key_id: str
    reason: str


@dataclass
class RotationReport:
    """What :func:`rotate_keys` did."""

    active_key: str
    """The key every rotated value is now sealed with."""
    to_do: int = 0
    """Values under another key when the rotation started."""
    rotated: dict[tuple[str, str], int] = field(default_factory=dict)
    """Values re-encrypted, by (table, column)."""
    failures: list[RotationFailure] = field(default_factory=list)

    @property
    def total_rotated(self) -> int:
        """Values re-encrypted in all."""
        return sum(self.rotated.values())


@dataclass(frozen=True, slots=True)
class _Batch:
    last_id: Any
    rows: int
    rotated: tuple[int, ...]
    failures: tuple[RotationFailure, ...]


class _TableRotation:
    """The statements rotating the encrypted ``columns`` of one table."""

    def __init__(self, db: Database, table: Table, columns: Sequence[Column[Any]]) -> None:
        if len(table.primary_key.columns) != 1:
            raise ValueError(f"{table.name}: rotating needs a single-column primary key")
        (self.pk,) = table.primary_key.columns
        self.db = db
        self.table = table
        self.columns = tuple(columns)
        active = db.keyring.active()[0]
        self.active = active
        self.prefix = f"{FORMAT_VERSION}:{active}:"
        names = tuple(c.name for c in self.columns)
        self._first = db.statements.get(
            ("lamina", "rotate", table.name, names, "first"), self._select
        )
        self._next = db.statements.get(
            ("lamina", "rotate", table.name, names, "next"), partial(self._select, after=True)
        )
        self._updates = [
            db.statements.get(("lamina", "rotate", table.name, c.name), partial(self._update, c))
            for c in self.columns
        ]

    def _select(self, *, after: bool = False) -> Any:
        """The next batch of rows holding a value not under the active key, locked."""
        size = bindparam("prefix_length", type_=Integer())
        prefix = bindparam("prefix", type_=String())
        stale = [func.substr(c, 1, size) != prefix for c in self.columns]
        stmt = select(self.pk, *self.columns).where(or_(*stale))
        if after:
            stmt = stmt.where(self.pk > bindparam("after", type_=self.pk.type))
        return stmt.order_by(self.pk).limit(bindparam("size")).with_for_update()

    def _update(self, column: Column[Any]) -> Any:
        """One value written back if the column still holds what was read (compare-and-set);
        columns with an ``onupdate`` default are set to themselves, i.e. kept."""
        kept = {c.name: c for c in self.table.c if c.onupdate is not None}
        return (
            update(self.table)
            .where(
                self.pk == bindparam("id", type_=self.pk.type),
                column == bindparam("old", type_=column.type),
            )
            .values({**kept, column.name: bindparam("new", type_=column.type)})
        )

    async def batch(self, uow: UnitOfWork, after: Any, size: int) -> _Batch:
        """Rotate the next ``size`` rows after the primary key ``after`` (None: from the start)."""
        params: dict[str, Any] = {"prefix": self.prefix, "prefix_length": len(self.prefix)}
        params["size"] = size
        if after is not None:
            params["after"] = after
        stmt = self._first if after is None else self._next
        keyring, table, prefix = self.db.keyring, self.table.name, self.prefix
        async with uow.connection() as conn:
            rows = await stmt.fetch_values(conn, params)
            writes: list[list[dict[str, Any]]] = [[] for _ in self.columns]
            failures: list[RotationFailure] = []
            for row in rows:
                pk = row[0]
                for i, column in enumerate(self.columns):
                    stored = row[i + 1]
                    if stored is None or stored.startswith(prefix):
                        continue
                    try:
                        new = reencrypt(stored, keyring, table, column.name, pk)
                    except (EncryptionKeyMissing, DecryptionFailed) as error:
                        failures.append(
                            RotationFailure(
                                table, column.name, str(pk), str(error.key_id), str(error)
                            )
                        )
                        continue
                    writes[i].append({"id": pk, "old": stored, "new": new})
            for update_stmt, values in zip(self._updates, writes, strict=True):
                if values:
                    await conn.execute_many(*update_stmt.batch(values))
        last = rows[-1][0] if rows else after
        return _Batch(last, len(rows), tuple(len(w) for w in writes), tuple(failures))


async def rotate_keys(
    db: Database,
    columns: Iterable[Column[Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pause: float = 0.0,
    progress: Progress | None = None,
) -> RotationReport:
    """Re-encrypt every value of ``columns`` not sealed with ``db.keyring``'s active key.

    ``columns`` are encrypted columns, usually ``encrypted_columns(app_metadata)``.
    Works in transactions of ``batch_size`` rows, sleeping ``pause`` seconds
    between them (to go easy on a busy database), and calls ``progress(done,
    to_do)`` after each. Transient failures (a deadlock, a busy database) re-run
    the batch. Raises :class:`~lamina.domain.EncryptionKeyMissing` if the
    keyring has no active key. See the module docstring for the guarantees.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    active = db.keyring.active()[0]
    chosen = sorted(columns, key=lambda c: (c.table.name, c.name))
    report = RotationReport(active)
    report.to_do = sum(u.values for u in await key_usage(db, chosen) if u.key_id != active)
    done = 0
    for _, grouped in groupby(chosen, key=lambda c: c.table.name):
        table_columns = list(grouped)
        rotation = _TableRotation(db, table_columns[0].table, table_columns)
        for column in table_columns:
            report.rotated[(column.table.name, column.name)] = 0
        after: Any = None
        while True:
            batch = await db.run(partial(rotation.batch, after=after, size=batch_size))
            for column, count in zip(table_columns, batch.rotated, strict=True):
                report.rotated[(column.table.name, column.name)] += count
            report.failures.extend(batch.failures)
            done += sum(batch.rotated) + len(batch.failures)
            if progress is not None:
                progress(done, max(report.to_do, done))
            if batch.rows < batch_size:
                break
            after = batch.last_id
            if pause:
                await asyncio.sleep(pause)
    if progress is not None:  # finished: values the service rewrote meanwhile need nothing
        progress(max(report.to_do, done), max(report.to_do, done))
    return report
