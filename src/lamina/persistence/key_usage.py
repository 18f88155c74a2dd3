"""Which keys still protect stored values: the count per table, column and key id.

Before a key leaves the keyring, every value sealed with it must have been
re-encrypted under another; :func:`key_usage` tells how many remain (``lamina
keys status`` shows it). The count runs in the database, grouping by the key
id in each value's header (see :mod:`lamina.persistence.encryption`): nothing
is decrypted, no key is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, func, select

from lamina.persistence.database import Database
from lamina.persistence.encryption import ENCRYPTED_INFO, FORMAT_VERSION


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """How many values of ``table.column`` are sealed with key ``key_id``."""

    table: str
    column: str
    key_id: str
    values: int


def encrypted_columns(metadata: MetaData) -> list[Column[Any]]:
    """The columns of ``metadata`` declared with ``encrypted_column()``, by table and name."""
    return [
        column
        for table in sorted(metadata.tables.values(), key=lambda t: t.name)
        for column in table.c
        if column.info.get(ENCRYPTED_INFO)
    ]


def _key_id(column: Column[Any], dialect: str) -> Any:
    """SQL for the key id of a stored value (``v1:<key id>:...``)."""
    if dialect == "postgresql":
        return func.split_part(column, ":", 2)
    start = len(FORMAT_VERSION) + 2
    rest = func.substr(column, start)
    return func.substr(rest, 1, func.instr(rest, ":") - 1)


async def key_usage(db: Database, columns: Iterable[Column[Any]]) -> list[KeyUsage]:
    """How many non-NULL values of each of ``columns`` each key id protects."""
    found: list[KeyUsage] = []
    async with db.engine.connect() as conn:
        for column in columns:
            key_id = _key_id(column, db.dialect_name).label("key_id")
            stmt = (
                select(key_id, func.count().label("n"))
                .where(column.is_not(None))
                .group_by(key_id)
                .order_by(key_id)
            )
            for row in await conn.execute(stmt):
                found.append(KeyUsage(column.table.name, column.name, str(row.key_id), row.n))
    return found
