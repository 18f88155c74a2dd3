"""Writes whose audit entries the database writes in the same statement (G3, G4).

A data-modifying CTE writes a row and its audit entry together; a single statement
is atomic, so outside a unit of work it commits on its own, without BEGIN and COMMIT
round trips (PostgreSQL): :func:`build_audited_insert` for one new row,
:func:`build_versioned_update` for a change, whose entry is inserted from the row its
UPDATE returns (when the version check in its conditions matches nothing, no entry is
written either, G2, and the statement returns no row). A bulk insert's entries are
built by the database from the rows it stores, on both databases
(:func:`build_audited_rows_insert`, :func:`build_creation_entries`). Values the
database turns into an entry's JSON come out exactly as the entity writes them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic_core import to_json
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from lamina.domain.entity import MASK
from lamina.persistence import audit
from lamina.persistence.statements import CompiledStatement, StatementCache
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


_ENTRY_NAMES = tuple(ENTRY_PREFIX + c for c in audit.AUDIT_COLUMNS)


def add_entry_params(params: dict[str, Any], entry: Sequence[Any]) -> None:
    """Add the values of an audit entry (:func:`~lamina.persistence.audit.audit_row`) to the
    named parameters of a statement that writes it (:func:`build_versioned_update`,
    :func:`build_sqlite_versioned_update`)."""
    params.update(zip(_ENTRY_NAMES, entry, strict=True))


@functools.cache
def _row_names(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The parameter names of an inserted row's ``columns`` (one tuple per shape of row)."""
    return tuple(ROW_PREFIX + c for c in columns)


def build_audited_insert(table: Table, columns: Sequence[str]) -> Any:
    """``WITH row AS (INSERT INTO table …) INSERT INTO audit_log …``, every value bound."""
    row = (
        insert(table)
        .values({c: bindparam(ROW_PREFIX + c, type_=table.c[c].type) for c in columns})
        .cte("inserted_row")
    )
    entry = dict(zip(audit.AUDIT_COLUMNS, _entry_parameters(), strict=True))
    return insert(audit_log).values(entry).add_cte(row)


@dataclass(frozen=True, slots=True)
class AuditedInsert:
    """:func:`build_audited_insert` compiled, and where each of its parameters is found in
    the row's values followed by the entry's (the dialect orders them in the statement)."""

    statement: CompiledStatement
    order: tuple[int, ...]

    @classmethod
    def compile(
        cls, statements: StatementCache, table: Table, columns: tuple[str, ...]
    ) -> AuditedInsert:
        """The audited insert of ``columns`` of ``table``, compiled by ``statements``."""
        statement = statements.compile(build_audited_insert(table, columns))
        given = _row_names(columns) + _ENTRY_NAMES
        return cls(statement, tuple(given.index(name) for name in statement.names))

    def arguments(self, row: Sequence[Any], entry: Sequence[Any]) -> list[Any]:
        """The driver arguments for one row (in the order of its columns) and its entry
        (:func:`~lamina.persistence.audit.audit_row`)."""
        given = [*row, *entry]
        return self.statement.positional_arguments([given[i] for i in self.order])


CHANGES_PARAM = ENTRY_PREFIX + "changes"
"""The audit changes known before the statement runs (JSON text): merged with those it finds."""

OLD_PREFIX = "o_"
"""Prefix of the result columns holding the old values of the compared columns."""

NEW_PREFIX = ENTRY_PREFIX + "new_"
"""Prefix of the parameters holding the new values of the compared columns as JSON text
(as the entity writes them: a timestamp keeps the offset it was given with)."""


def new_value_params(compared: Sequence[FieldColumn], values: Mapping[str, Any]) -> dict[str, str]:
    """The new values of the ``compared`` fields as the audit entry's statement binds them
    (their JSON, under :data:`NEW_PREFIX`); sensitive ones are masked, so not bound."""
    return {
        NEW_PREFIX + f.column: to_json(values[f.field]).decode()
        for f in compared
        if not f.sensitive
    }


_MASKED = to_json([MASK, MASK]).decode()


def _json_of(value: ColumnElement[Any], kind: type[Any], jsonb: bool = True) -> ColumnElement[Any]:
    """A stored value as the JSON Pydantic writes for it, on PostgreSQL (an aware timestamp
    as ``…Z``, with microseconds only if it has some): ``jsonb``, or ``json`` (cheaper to
    build, for values only stored)."""
    to_json = func.to_jsonb if jsonb else func.to_json
    if kind is not datetime:
        return to_json(value)
    utc = func.timezone(literal("UTC"), value)
    fraction = case(
        (func.to_char(utc, literal("US")) == literal("000000"), literal("")),
        else_=func.to_char(utc, literal(".US")),
    )
    text = func.to_char(utc, literal('YYYY-MM-DD"T"HH24:MI:SS')).concat(fraction).concat("Z")
    return to_json(text)


def _sqlite_json_of(value: ColumnElement[Any], kind: type[Any]) -> ColumnElement[Any]:
    """:func:`_json_of` on SQLite, from the way SQLAlchemy stores each kind there: booleans
    as 0 or 1, uuids as 32 hex digits, timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC)."""
    if kind is bool:
        return case((value == 1, func.json(literal("true"))), (value == 0, func.json("false")))
    if kind is UUID:
        groups = [func.substr(value, start, size) for start, size in _UUID_GROUPS]
        text: ColumnElement[Any] = groups[0]
        for group in groups[1:]:
            text = text.concat("-").concat(group)
        return text
    if kind is datetime:
        whole = func.substr(value, 1, 10).concat("T").concat(func.substr(value, 12, 8))
        fraction = case(
            (func.substr(value, 20) == literal(".000000"), literal("")),
            else_=func.substr(value, 20),
        )
        return whole.concat(fraction).concat("Z")
    return value


_UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))


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
            pair = func.jsonb_build_array(_json_of(old, f.kind), given)
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
    row alone. Without ``audited``, the result is the row followed by the old values of
    the compared columns (``o_<column>``), for an entry the caller builds.
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


def build_sqlite_versioned_update(
    table: Table,
    key: Column[Any],
    conditions: Sequence[ColumnElement[bool]],
    new_values: Mapping[str, Any],
    compared: Sequence[FieldColumn],
    returned: Sequence[Column[Any]],
    *,
    always: bool = False,
) -> tuple[Any, Any]:
    """:func:`build_versioned_update` on SQLite, as two statements sent together in one
    write transaction (which holds the database, so both see the row alike)::

        INSERT INTO audit_log SELECT …, json_patch(:a_changes, {field: [old, new]…})
        FROM table WHERE key = :id AND conditions [AND a compared column differs];
        UPDATE table SET … WHERE <the same> RETURNING returned…

    The audit entry is inserted first, reading the old values, and only for a row the
    UPDATE then changes (G2, G4): a compared column's pair is listed only if its value
    changes (``json_patch`` drops the others), the old value as the database holds it,
    the new one as given (:data:`NEW_PREFIX`); sensitive ones masked.
    """
    where = [key == bindparam("id", type_=key.type), *conditions]
    if compared and not always:
        where.append(
            or_(*(table.c[f.column].is_distinct_from(new_values[f.column]) for f in compared))
        )
    changed_row = update(table).where(*where).values(dict(new_values)).returning(*returned)
    known: ColumnElement[Any] = bindparam(CHANGES_PARAM, type_=String())
    pairs: list[Any] = []
    for f in compared:
        old = table.c[f.column]
        if f.sensitive:
            pair: ColumnElement[Any] = func.json(literal(_MASKED))
        else:
            given = func.json(bindparam(NEW_PREFIX + f.column, type_=String()))
            pair = func.json_array(_sqlite_json_of(old, f.kind), given)
        pairs += [
            literal(f.field),
            func.json(case((old.is_distinct_from(new_values[f.column]), pair))),
        ]
    changes = func.json_patch(known, func.json_object(*pairs)) if pairs else known
    entry = (
        select(
            *(
                changes if name == "changes" else bindparam(ENTRY_PREFIX + name, type_=v.type)
                for name, v in audit.entry_parameters().items()
            )
        )
        .select_from(table)
        .where(*where)
    )
    return insert(audit_log).from_select(list(audit.AUDIT_COLUMNS), entry), changed_row


def _pg_creation_changes(
    row: Any, fields: Sequence[FieldColumn], masked: Sequence[str]
) -> ColumnElement[Any]:
    """``{"field": [null, value], …}`` as JSON text joined from each value's JSON (about
    half the work of ``json_build_object`` for the database): the JSON of a creation."""
    text: ColumnElement[Any] | None = None
    opening = "{"
    for f in fields:
        value = cast(_json_of(row.c[f.column], f.kind, jsonb=False), Text())
        head = literal(f"{opening}{to_json(f.field).decode()}: [null, ")
        part = head.concat(func.coalesce(value, literal("null")))
        text = part if text is None else text.concat(part)
        opening = "], "
    for name in masked:
        part = literal(f"{opening}{to_json(name).decode()}: [null, {to_json(MASK).decode()}")
        text = part if text is None else text.concat(part)
        opening = "], "
    closing = literal("}" if text is None else "]}")
    return cast(closing if text is None else text.concat(closing), JSON())


def _creation_entry(
    row: Any,
    key: str,
    fields: Sequence[FieldColumn],
    masked: Sequence[str],
    entry_id: ColumnElement[Any],
    dialect_name: str,
) -> Any:
    """The SELECT of one ``create`` audit entry per row of ``row`` (a table or a CTE of
    inserted rows): ``{field: [null, value], …, masked: [null, "***"]}``, each value written
    as the entity writes it; the other values bound with :data:`ENTRY_PREFIX`."""
    if dialect_name == "postgresql":
        entity_id: Any = cast(row.c[key], String())
        changes: Any = _pg_creation_changes(row, fields, masked)
    else:
        stored_key = row.c[key]
        uuid_key = isinstance(stored_key.type, Uuid)
        entity_id = _sqlite_json_of(stored_key, UUID) if uuid_key else cast(stored_key, String())
        pairs: list[Any] = []
        for f in fields:
            value = _sqlite_json_of(row.c[f.column], f.kind)
            pairs += [literal(f.field), func.json_array(null(), value)]
        for name in masked:
            pairs += [literal(name), func.json_array(null(), literal(MASK))]
        changes = func.json_object(*pairs)
    computed = {"id": entry_id, "entity_id": entity_id, "changes": changes}
    return select(
        *(
            computed.get(name, bindparam(ENTRY_PREFIX + name, type_=v.type))
            for name, v in audit.entry_parameters().items()
        )
    )


def build_audited_rows_insert(
    table: Table,
    columns: Sequence[str],
    constant: Sequence[bool],
    key: Column[Any],
    fields: Sequence[FieldColumn],
    masked: Sequence[str],
) -> Any:
    """Many rows and their ``create`` audit entries in one statement (PostgreSQL), the
    entries built by the database from the rows the INSERT returns (G4)::

        WITH inserted AS (INSERT INTO table (columns) SELECT * FROM unnest(:r_0, :r_1, …)
                          RETURNING key, fields…)
        INSERT INTO audit_log SELECT <id i>, …, {field: [null, value], …} FROM inserted

    Each column's values are bound as one array, ``r_<position in columns>``, already
    converted for the driver (no further processing); a ``constant`` column (one value
    in every row: the timestamps and actors of a batch) as that value. Entry ``i``'s id
    is ``id_head`` followed by ``id_tail + i`` (:func:`~lamina.domain.ids.uuid7_run`).
    """
    arrays = [
        cast(bindparam(f"{ROW_PREFIX}{i}"), ARRAY(table.c[c].type))
        for i, c in enumerate(columns)
        if not constant[i]
    ]
    names = [f"c{i}" for i in range(len(arrays))]
    given = func.unnest(*arrays).table_valued(*names).render_derived()
    varying = iter(names)
    values = [
        cast(bindparam(f"{ROW_PREFIX}{i}"), table.c[c].type)
        if constant[i]
        else given.c[next(varying)]
        for i, c in enumerate(columns)
    ]
    returned = [key, *(table.c[f.column] for f in fields)]
    rows = (
        insert(table)
        .from_select(list(columns), select(*values).select_from(given))
        .returning(*returned)
        .cte("inserted_rows")
    )
    position = func.row_number().over() - 1
    entry_id = cast(
        bindparam("id_head", type_=String()).concat(
            func.lpad(func.to_hex(bindparam("id_tail", type_=BigInteger()) + position), 15, "0")
        ),
        audit_log.c.id.type,
    )
    entry = _creation_entry(rows, key.name, fields, masked, entry_id, "postgresql")
    return (
        insert(audit_log)
        .from_select(list(audit.AUDIT_COLUMNS), entry.select_from(rows))
        .add_cte(rows)
    )


def build_creation_entries(
    table: Table, key: Column[Any], fields: Sequence[FieldColumn], masked: Sequence[str]
) -> Any:
    """The ``create`` audit entries of rows just inserted, built by the database from the
    stored rows (SQLite, G4)::

        INSERT INTO audit_log SELECT <id i>, …, {field: [null, value], …}
        FROM json_each(:keys) JOIN table ON table.key = value

    ``keys`` is a JSON array of the inserted keys as stored; entry ``i``'s id is
    ``id_head`` followed by ``id_tail + i`` in hex (:func:`~lamina.domain.ids.uuid7_run`).
    """
    keys = func.json_each(bindparam("keys", type_=String())).table_valued("key", "value")
    joined = keys.join(table, table.c[key.name] == keys.c.value)
    tail = bindparam("id_tail", type_=BigInteger()) + keys.c.key
    entry_id = bindparam("id_head", type_=String()).concat(func.printf("%015x", tail))
    entry = _creation_entry(table, key.name, fields, masked, entry_id, "sqlite")
    return insert(audit_log).from_select(list(audit.AUDIT_COLUMNS), entry.select_from(joined))
