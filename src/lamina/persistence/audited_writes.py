"""A write and its audit entry in one statement, sent outside any transaction (PostgreSQL).

A data-modifying CTE writes the row and the audit entry together; a single
statement is atomic and commits on its own, so the row and its entry are stored
together or not at all (G3, G4) without BEGIN and COMMIT round trips. An
update's entry is inserted from the rows its UPDATE returns: when the version
check in the UPDATE's WHERE clause matches nothing, no entry is written either
(G2), and the statement returns no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, select

from lamina.persistence import audit
from lamina.persistence.tables import audit_log

ROW_PREFIX = "r_"
"""Prefix of an inserted row's parameters."""

ENTRY_PREFIX = "a_"
"""Prefix of the audit entry's parameters."""


def _entry_parameters() -> list[Any]:
    return [
        bindparam(ENTRY_PREFIX + name, type_=param.type)
        for name, param in audit.entry_parameters().items()
    ]


def _entry_params(entry: Sequence[Any]) -> dict[str, Any]:
    return {ENTRY_PREFIX + c: v for c, v in zip(audit.AUDIT_COLUMNS, entry, strict=True)}


def build_audited_insert(table: Table, columns: Sequence[str]) -> Any:
    """``WITH row AS (INSERT INTO table …) INSERT INTO audit_log …``, every value bound."""
    row = (
        insert(table)
        .values({c: bindparam(ROW_PREFIX + c, type_=table.c[c].type) for c in columns})
        .cte("inserted_row")
    )
    entry = dict(zip(audit.AUDIT_COLUMNS, _entry_parameters(), strict=True))
    return insert(audit_log).values(entry).add_cte(row)


def audited_insert_params(
    columns: Sequence[str], row: Sequence[Any], entry: Sequence[Any]
) -> dict[str, Any]:
    """The named parameters of :func:`build_audited_insert` for one row and its entry."""
    params = {ROW_PREFIX + c: v for c, v in zip(columns, row, strict=True)}
    params.update(_entry_params(entry))
    return params


def build_audited_update(update: Any, key: Any) -> Any:
    """``WITH row AS (UPDATE … RETURNING key) INSERT INTO audit_log SELECT … FROM row
    RETURNING audit_log.id``: one returned row if the UPDATE changed one, else none.

    ``update`` must not bind parameters named with :data:`ENTRY_PREFIX`.
    """
    row = update.returning(key).cte("changed_row")
    entry = select(*_entry_parameters()).select_from(row)
    return (
        insert(audit_log)
        .from_select(list(audit.AUDIT_COLUMNS), entry)
        .add_cte(row)
        .returning(audit_log.c.id)
    )


def audited_update_params(update_params: dict[str, Any], entry: Sequence[Any]) -> dict[str, Any]:
    """The named parameters of :func:`build_audited_update`."""
    return {**update_params, **_entry_params(entry)}
