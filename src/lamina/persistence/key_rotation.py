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

:func:`reindex_blind_indexes` walks the same way to recompute blind-index
digests under a new blind-index key (``lamina keys reindex``).
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
from lamina.persistence.blind_index import BLIND_INDEX_SUFFIX, blind_index_of
from lamina.persistence.database import Database
from lamina.persistence.encryption import FORMAT_VERSION, decrypt_value, reencrypt
from lamina.persistence.key_usage import key_usage
from lamina.persistence.unit_of_work import UnitOfWork

DEFAULT_BATCH_SIZE = 200
"""Rows per transaction. Throughput hardly grows past it (the cost is the cryptography,
not the round trips), while a batch's rows wait for it: some tens of milliseconds."""

Progress = Callable[[int, int], None]
"""Called after each batch with (values done, values to do at the start), and with
(to do, to do) at the end (values the service rewrote meanwhile needed nothing)."""


@dataclass(frozen=True, slots=True)
class RotationFailure:
    """A value that could not be re-encrypted (or re-indexed), and why: it is left as it was."""

    table: str
    column: str
    row_id: str
    key_id: str
    reason: str


@dataclass
class RotationReport:
    """What :func:`rotate_keys` (or :func:`reindex_blind_indexes`) did."""

    active_key: str
    """The key every rotated value is now sealed with."""
    to_do: int = 0
    """Values under another key when the rotation started (rows, for a reindex)."""
    rotated: dict[tuple[str, str], int] = field(default_factory=dict)
    """Values re-encrypted (digests recomputed, for a reindex), by (table, column)."""
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


class _TableRewrite:
    """The statements rewriting the encrypted ``columns`` of one table, a batch at a time:
    re-encrypting values not under the active key, or (``reindex``) recomputing their
    blind-index digests under the keyring's index key."""

    def __init__(
        self, db: Database, table: Table, columns: Sequence[Column[Any]], *, reindex: bool
    ) -> None:
        if len(table.primary_key.columns) != 1:
            raise ValueError(f"{table.name}: rewriting needs a single-column primary key")
        (self.pk,) = table.primary_key.columns
        self.db = db
        self.table = table
        self.columns = tuple(columns)
        self.reindex = reindex
        self.targets = tuple(
            table.c[f"{c.name}{BLIND_INDEX_SUFFIX}"] if reindex else c for c in self.columns
        )
        self.prefix = "" if reindex else f"{FORMAT_VERSION}:{db.keyring.active()[0]}:"
        key = ("lamina", "reindex" if reindex else "rotate", table.name)
        names = tuple(c.name for c in self.columns)
        self._first = db.statements.get((*key, names, "first"), self._select)
        self._next = db.statements.get((*key, names, "next"), partial(self._select, after=True))
        self._updates = [
            db.statements.get((*key, c.name), partial(self._update, c, target))
            for c, target in zip(self.columns, self.targets, strict=True)
        ]

    def _select(self, *, after: bool = False) -> Any:
        """The next batch of rows (holding a value not under the active key), locked."""
        stmt = select(self.pk, *self.columns, *(self.targets if self.reindex else ()))
        if not self.reindex:
            size = bindparam("prefix_length", type_=Integer())
            prefix = bindparam("prefix", type_=String())
            stmt = stmt.where(or_(*(func.substr(c, 1, size) != prefix for c in self.columns)))
        if after:
            stmt = stmt.where(self.pk > bindparam("after", type_=self.pk.type))
        return stmt.order_by(self.pk).limit(bindparam("size")).with_for_update()

    def _update(self, column: Column[Any], target: Column[Any]) -> Any:
        """``target`` set if ``column`` still holds the value read (compare-and-set);
        columns with an ``onupdate`` default are set to themselves, i.e. kept."""
        kept = {c.name: c for c in self.table.c if c.onupdate is not None}
        return (
            update(self.table)
            .where(
                self.pk == bindparam("id", type_=self.pk.type),
                column == bindparam("old", type_=column.type),
            )
            .values({**kept, target.name: bindparam("new", type_=target.type)})
        )

    def _rewritten(self, stored: str, column: str, pk: Any, current: Any) -> str | None:
        """The new value for ``stored`` (None: nothing to write)."""
        keyring, table = self.db.keyring, self.table.name
        if not self.reindex:
            return reencrypt(stored, keyring, table, column, pk)
        data = decrypt_value(stored, keyring, table, column, pk)
        digest = blind_index_of(keyring.index_key, table, column, data)
        return None if digest == current else digest

    async def batch(self, uow: UnitOfWork, after: Any, size: int) -> _Batch:
        """Rewrite the next ``size`` rows after the primary key ``after`` (None: from the start)."""
        params: dict[str, Any] = {"prefix": self.prefix, "prefix_length": len(self.prefix)}
        params["size"] = size
        if after is not None:
            params["after"] = after
        stmt = self._first if after is None else self._next
        prefix, count = self.prefix, len(self.columns)
        async with uow.connection() as conn:
            rows = await stmt.fetch_values(conn, params)
            writes: list[list[dict[str, Any]]] = [[] for _ in self.columns]
            failures: list[RotationFailure] = []
            for row in rows:
                pk = row[0]
                for i, column in enumerate(self.columns):
                    stored = row[i + 1]
                    if stored is None or (prefix and stored.startswith(prefix)):
                        continue
                    current = row[i + 1 + count] if self.reindex else None
                    try:
                        new = self._rewritten(stored, column.name, pk, current)
                    except (EncryptionKeyMissing, DecryptionFailed) as error:
                        failures.append(
                            RotationFailure(
                                self.table.name, column.name, str(pk), str(error.key_id), str(error)
                            )
                        )
                        continue
                    if new is not None:
                        writes[i].append({"id": pk, "old": stored, "new": new})
            for update_stmt, values in zip(self._updates, writes, strict=True):
                if values:
                    await conn.execute_many(*update_stmt.batch(values))
        last = rows[-1][0] if rows else after
        return _Batch(last, len(rows), tuple(len(w) for w in writes), tuple(failures))


async def _rewrite(
    db: Database,
    columns: Sequence[Column[Any]],
    report: RotationReport,
    *,
    reindex: bool,
    batch_size: int,
    pause: float,
    progress: Progress | None,
) -> RotationReport:
    """Run :class:`_TableRewrite` over every table of ``columns``, counting into ``report``."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    done = 0
    for _, grouped in groupby(columns, key=lambda c: c.table.name):
        table_columns = list(grouped)
        rewrite = _TableRewrite(db, table_columns[0].table, table_columns, reindex=reindex)
        for column in table_columns:
            report.rotated[(column.table.name, column.name)] = 0
        after: Any = None
        while True:
            batch = await db.run(partial(rewrite.batch, after=after, size=batch_size))
            for column, count in zip(table_columns, batch.rotated, strict=True):
                report.rotated[(column.table.name, column.name)] += count
            report.failures.extend(batch.failures)
            done += (sum(batch.rotated) + len(batch.failures)) if not reindex else batch.rows
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
    active = db.keyring.active()[0]
    chosen = sorted(columns, key=lambda c: (c.table.name, c.name))
    report = RotationReport(active)
    report.to_do = sum(u.values for u in await key_usage(db, chosen) if u.key_id != active)
    return await _rewrite(
        db,
        chosen,
        report,
        reindex=False,
        batch_size=batch_size,
        pause=pause,
        progress=progress,
    )


async def reindex_blind_indexes(
    db: Database,
    columns: Iterable[Column[Any]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pause: float = 0.0,
    progress: Progress | None = None,
) -> RotationReport:
    """Recompute the blind-index digest (``<column>_bidx``) of every value of ``columns``
    under ``db.keyring``'s index key: how the blind-index key is changed.

    Columns without a blind index are left out. ``report.rotated`` counts the digests
    that changed (a second run counts none); values that cannot be opened are in
    ``report.failures``. Until it has finished, lookups and unique rules compare
    digests made under two keys: run it while the service does not write (or
    accept that an equality lookup may miss a row meanwhile). ``progress`` counts rows.
    """
    chosen = [
        c
        for c in sorted(columns, key=lambda c: (c.table.name, c.name))
        if f"{c.name}{BLIND_INDEX_SUFFIX}" in c.table.c
    ]
    _ = db.keyring.index_key  # EncryptionKeyMissing before anything is read
    report = RotationReport(db.keyring.active_id or "")
    async with db.connection() as conn:
        for table in {c.table.name: c.table for c in chosen}.values():
            counted = db.statements.compile(select(func.count()).select_from(table))
            report.to_do += (await counted.fetch_values(conn, {}))[0][0]
    return await _rewrite(
        db,
        chosen,
        report,
        reindex=True,
        batch_size=batch_size,
        pause=pause,
        progress=progress,
    )
