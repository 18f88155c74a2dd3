"""A write and its audit entry in one statement, sent outside any transaction (PostgreSQL).

A data-modifying CTE writes the row and the audit entry together; a single
statement is atomic and commits on its own, so the row and its entry are stored
together or not at all (G3, G4) without BEGIN and COMMIT round trips. An
update's entry is inserted from the rows its UPDATE returns: when the version
check in the UPDATE's WHERE clause matches nothing, no entry is written either
(G2), and the statement returns no row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    Column,
    ColumnElement,
    String,
    Table,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from lamina.domain.entity import MASK
from lamina.persistence import audit
from lamina.persistence.tables import audit_log
from lamina.persistence.unread_changes import FieldColumn

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


CHANGES_PARAM = ENTRY_PREFIX + "changes"
"""The audit changes known before the statement runs (JSON text): merged with those it finds."""

OLD_PREFIX = "o_"
"""Prefix of the result columns holding the old values of the compared columns."""

NEW_PREFIX = ENTRY_PREFIX + "new_"
"""Prefix of the parameters holding the new values of the compared columns as JSON text
(as the entity writes them: a timestamp keeps the offset it was given with)."""

_MASKED = to_json([MASK, MASK]).decode()


def _json_of(value: ColumnElement[Any], timestamp: bool) -> ColumnElement[Any]:
    """A stored value as the JSON Pydantic writes for it (an aware timestamp as ``…Z``)."""
    if not timestamp:
        return func.to_jsonb(value)
    utc = func.timezone(literal("UTC"), value)
    fraction = case(
        (func.to_char(utc, literal("US")) == literal("000000"), literal("")),
        else_=func.to_char(utc, literal(".US")),
    )
    text = func.to_char(utc, literal('YYYY-MM-DD"T"HH24:MI:SS')).concat(fraction).concat("Z")
    return func.to_jsonb(text)


def _found_changes(row: Any, compared: Sequence[FieldColumn]) -> ColumnElement[Any]:
    """``{field: [old, new]}`` of the compared columns whose value changed (sensitive masked):
    the old value as the database holds it, the new one as given (:data:`NEW_PREFIX`)."""
    pairs: list[Any] = []
    for f in compared:
        old, new = row.c[OLD_PREFIX + f.column], row.c[f.column]
        if f.sensitive:
            pair: ColumnElement[Any] = cast(literal(_MASKED), JSONB)
        else:
            given = cast(bindparam(NEW_PREFIX + f.column, type_=String()), JSONB)
            pair = func.jsonb_build_array(_json_of(old, f.timestamp), given)
        pairs += [literal(f.field), case((old.is_distinct_from(new), pair))]
    return func.jsonb_strip_nulls(func.jsonb_build_object(*pairs))


def build_versioned_update(
    table: Table,
    key: Column[Any],
    conditions: Sequence[ColumnElement[bool]],
    new_values: Mapping[str, Any],
    compared: Sequence[FieldColumn],
    returned: Sequence[Column[Any]],
    *,
    audited: bool,
    always: bool = False,
) -> Any:
    """The UPDATE of one row (``key`` bound as ``id``) that reads the old values it needs
    itself, in the same statement::

        WITH old_row AS (SELECT key, compared… FROM table WHERE key = :id AND conditions
                         FOR NO KEY UPDATE),
             changed_row AS (UPDATE table SET … FROM old_row WHERE table.key = old_row.key
                             [AND a compared column differs] RETURNING returned…, old values)
        [, entry AS (INSERT INTO audit_log SELECT …, changes FROM changed_row)]
        SELECT returned… [old values] FROM changed_row

    ``conditions`` hold the visibility, the scope and the version check: a row that
    does not match them changes nothing, and the statement returns no row. Without
    ``compared`` columns the row is written whatever it holds (the caller knows a value
    changes); with them, only if one of them changes. The lock is the one a change takes
    (``FOR NO KEY UPDATE``: a child's insert does not wait for it, G15); the UPDATE joins
    the locked row, so it runs after the lock and sees the row as locked. ``always``:
    written whatever the compared columns hold (a delete or restore).

    ``audited``: the statement also inserts the row's audit entry (its parameters named
    with :data:`ENTRY_PREFIX`), whose changes are those bound as :data:`CHANGES_PARAM`
    (JSON text) merged with the compared columns that changed, as the database finds
    them (G4; their new values bound with :data:`NEW_PREFIX`); the result is then the
    row alone. Without ``audited``, the result is the
    row followed by the old values of the compared columns (``o_<column>``), for an
    entry the caller builds.
    """
    locked = [key, *(table.c[f.column] for f in compared)]
    old = (
        select(*locked)
        .where(key == bindparam("id", type_=key.type), *conditions)
        .with_for_update(key_share=True)
        .cte("old_row")
    )
    update_stmt = update(table).where(key == old.c[key.name])
    if compared and not always:
        update_stmt = update_stmt.where(
            or_(*(table.c[f.column].is_distinct_from(new_values[f.column]) for f in compared))
        )
    olds = [old.c[f.column].label(OLD_PREFIX + f.column) for f in compared]
    update_stmt = update_stmt.values(dict(new_values)).returning(*returned, *olds)
    if not audited:
        return update_stmt
    row = update_stmt.cte("changed_row")
    params = audit.entry_parameters()
    known = cast(bindparam(CHANGES_PARAM, type_=String()), JSONB)
    params["changes"] = _found_changes(row, compared).op("||")(known)
    entry = select(
        *(
            v if name == "changes" else bindparam(ENTRY_PREFIX + name, type_=v.type)
            for name, v in params.items()
        )
    ).select_from(row)
    stored = insert(audit_log).from_select(list(audit.AUDIT_COLUMNS), entry).cte("audit_entry")
    return select(*(row.c[c.name] for c in returned)).add_cte(stored)


def versioned_update_params(
    update_params: Mapping[str, Any], entry: Sequence[Any] | None
) -> dict[str, Any]:
    """The named parameters of :func:`build_versioned_update` (``entry``: the audit entry's
    values, its ``changes`` those known before the statement runs, as JSON text)."""
    if entry is None:
        return dict(update_params)
    return {**update_params, **_entry_params(entry)}
