"""One row and its audit entry in one statement: a standalone insert is one round trip.

On PostgreSQL, a data-modifying CTE inserts the row and the audit entry
together; sent outside an explicit transaction it commits on its own, and a
single statement is atomic, so the row and its entry are stored together or not
at all (G3, G4) without BEGIN and COMMIT round trips of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert

from lamina.persistence import audit
from lamina.persistence.tables import audit_log

ROW_PREFIX = "r_"
"""Prefix of the row's parameters (the audit entry's take the audit columns' names)."""


def build_audited_insert(table: Table, columns: Sequence[str]) -> Any:
    """``WITH row AS (INSERT INTO table …) INSERT INTO audit_log …``, every value bound."""
    row = (
        insert(table)
        .values({c: bindparam(ROW_PREFIX + c, type_=table.c[c].type) for c in columns})
        .cte("inserted_row")
    )
    return insert(audit_log).values(audit.entry_parameters()).add_cte(row)


def audited_insert_params(
    columns: Sequence[str], row: Sequence[Any], entry: Sequence[Any]
) -> dict[str, Any]:
    """The named parameters of :func:`build_audited_insert` for one row and its entry."""
    params = {ROW_PREFIX + c: v for c, v in zip(columns, row, strict=True)}
    params.update(zip(audit.AUDIT_COLUMNS, entry, strict=True))
    return params
