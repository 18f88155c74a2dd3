"""Index definitions as the database states them, so two indexes compare by what they do.

Alembic compares indexes by the columns it can reflect: on SQLite it reflects
neither descending columns, expressions nor partial-index predicates, and on
PostgreSQL an expression written as text in a revision never equals the same
expression built in the models. lamina compares each index by name and
*definition* instead:

- on SQLite the definition is the ``CREATE INDEX`` statement the database keeps
  (``sqlite_master.sql``) and the one the model compiles to, normalized (case
  outside string literals, identifier quotes, whitespace);
- on PostgreSQL it is ``pg_get_indexdef`` for both: the model's index is built on
  an empty temporary copy of the table inside a savepoint that is rolled back,
  so PostgreSQL itself puts the model's expressions in the form it stores.

An index the database has but the models do not is rebuilt from its definition
(:func:`index_from_definition`), so a revision that drops it can create it again
on downgrade.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Dialect, Index, MetaData, Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex
from sqlalchemy.sql.elements import TextClause

PROBE_TABLE = "lamina_index_probe"
"""The temporary table PostgreSQL builds model indexes on (never committed)."""

_STRING_LITERAL = re.compile(r"('(?:[^']|'')*')")
_QUOTED_IDENTIFIER = re.compile(r'"([A-Za-z_][A-Za-z0-9_$]*)"')
_IDENTIFIER = re.compile(r'^(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))$')
_HEAD = re.compile(
    r"^CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r'(?P<name>"(?:[^"]|"")+"|\S+)\s+ON\s+(?:ONLY\s+)?(?P<table>"(?:[^"]|"")+"|\S+)\s*'
    r"(?:USING\s+(?P<method>\w+)\s*)?\(",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class StoredIndex:
    """An index the database has: its name and its ``CREATE INDEX`` statement."""

    name: str
    statement: str


def stored_indexes(connection: Connection, table: str, schema: str | None) -> list[StoredIndex]:
    """The indexes of ``table`` the database has, except those behind a primary key or a
    unique constraint (the constraints are compared as constraints)."""
    if connection.dialect.name == "sqlite":
        found = connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL"
            ),
            {"table": table},
        )
    elif connection.dialect.name == "postgresql":
        found = connection.execute(
            text(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_class t ON t.oid = x.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE t.relname = :table AND n.nspname = coalesce(:schema, current_schema()) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid "
                "AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x'))"
            ),
            {"table": table, "schema": schema},
        )
    else:
        return []
    return sorted((StoredIndex(str(name), str(sql)) for name, sql in found), key=_by_name)


def _by_name(index: StoredIndex) -> str:
    return index.name


def comparable(connection: Connection, statement: str) -> str:
    """``statement`` (a ``CREATE INDEX``) in the form two equal indexes share on this database.

    On PostgreSQL, where the statement comes from ``pg_get_indexdef``, the index
    and table names are left out: what remains is uniqueness, method, keys,
    included columns and predicate.
    """
    if connection.dialect.name == "postgresql":
        head = _HEAD.match(statement)
        if head is None:
            return statement
        unique = "UNIQUE " if head["unique"] else ""
        return f"{unique}USING {head['method'] or 'btree'} ({statement[head.end() :]}"
    return _normalized(statement)


def _normalized(statement: str) -> str:
    parts = _STRING_LITERAL.split(statement)
    # Odd parts are string literals: kept as written; elsewhere case, quotes and spacing go.
    for position in range(0, len(parts), 2):
        part = _QUOTED_IDENTIFIER.sub(r"\1", parts[position]).casefold()
        part = re.sub(r"\s+", " ", part)
        parts[position] = re.sub(r"\s*([(),])\s*", r"\1", part)
    return "".join(parts).strip()


def model_statements(connection: Connection, table: Table) -> dict[str, str | None]:
    """The comparable definition of each named index of the model ``table``, by name.

    On PostgreSQL a definition is ``None`` when the index cannot be built on the
    table as the database has it (a column the database lacks yet): it differs.
    """
    indexes = [index for index in table.indexes if index.name]
    if connection.dialect.name != "postgresql":
        return {
            str(index.name): _normalized(
                str(CreateIndex(index).compile(dialect=connection.dialect))
            )
            for index in indexes
        }
    return _built_on_probe(connection, table, [str(index.name) for index in indexes])


def _built_on_probe(
    connection: Connection, table: Table, names: list[str]
) -> dict[str, str | None]:
    """PostgreSQL's own definitions of the model's indexes, built on an empty temporary copy
    of the table in a savepoint that is rolled back: nothing stays behind."""
    definitions: dict[str, str | None] = dict.fromkeys(names)
    if not names:
        return definitions
    statements = {
        str(index.name): str(CreateIndex(index).compile(dialect=connection.dialect))
        for index in table.indexes
        if index.name
    }
    real = connection.dialect.identifier_preparer.format_table(table)
    probe_table = connection.begin_nested()
    try:
        connection.execute(text(f"CREATE TEMPORARY TABLE {PROBE_TABLE} (LIKE {real})"))
        for name in names:
            attempt = connection.begin_nested()
            try:
                connection.execute(text(_on_probe(statements[name])))
            except DBAPIError:
                attempt.rollback()
                continue
            built = connection.scalar(
                text(
                    "SELECT pg_get_indexdef(oid) FROM pg_class "
                    "WHERE relname = :name AND relnamespace = pg_my_temp_schema()"
                ),
                {"name": name},
            )
            attempt.commit()
            definitions[name] = comparable(connection, str(built))
    finally:
        if probe_table.is_active:
            probe_table.rollback()
    return definitions


def _on_probe(statement: str) -> str:
    """``statement`` (a compiled ``CREATE INDEX``) with the probe table in place of the table."""
    head = _HEAD.match(statement)
    if head is None:
        raise ValueError(f"cannot read the index definition {statement!r}")
    return f"{statement[: head.start('table')]}{PROBE_TABLE}{statement[head.end('table') :]}"


def definition_text(index: Index, dialect: Dialect) -> str:
    """What an index covers, for messages: ``(rating DESC, deleted_at) WHERE ...``."""
    statement = str(CreateIndex(index).compile(dialect=dialect))
    head = _HEAD.match(statement)
    return f"({statement[head.end() :]}".strip() if head else statement


def index_from_definition(stored: StoredIndex, table: str, schema: str | None) -> Index:
    """An ``Index`` equivalent to ``stored``, on a bare ``Table`` named ``table``: what a
    revision needs to drop the index and to create it again on downgrade."""
    head = _HEAD.match(stored.statement)
    if head is None:
        raise ValueError(f"cannot read the index definition {stored.statement!r}")
    keys, rest = _up_to_closing(stored.statement, head.end())
    include: list[str] = []
    if include_match := re.match(r"\s*INCLUDE\s*\(", rest, re.IGNORECASE):
        included, rest = _up_to_closing(rest, include_match.end())
        include = [_unquoted(part) for part in _top_level(included, ",")]
    where = re.match(r"\s*WHERE\s+(.*)$", rest, re.IGNORECASE | re.DOTALL)
    columns: list[Column[object]] = []
    elements: list[str | TextClause] = []
    for key in _top_level(keys, ","):
        if _IDENTIFIER.match(key):
            name = _unquoted(key)
            columns.append(Column(name))
            elements.append(name)
        else:
            elements.append(text(key))
    options: dict[str, Any] = {}
    if where is not None:
        predicate = where.group(1).strip().rstrip(";")
        options.update(sqlite_where=text(predicate), postgresql_where=text(predicate))
    if include:
        options["postgresql_include"] = include
    method = head["method"]
    if method and method.lower() != "btree":
        options["postgresql_using"] = method.lower()
    index = Index(stored.name, *elements, unique=bool(head["unique"]), **options)
    Table(table, MetaData(), *columns, index, schema=schema)
    return index


def _depths(text: str, start: int = 0) -> Iterator[tuple[int, str, int | None]]:
    """``(position, character, parenthesis depth after it)`` of ``text`` from ``start``;
    characters inside quotes report no depth (their parentheses do not count)."""
    depth = 0
    quote: str | None = None
    for position in range(start, len(text)):
        char = text[position]
        if quote is not None:
            quote = None if char == quote else quote
            yield position, char, None
            continue
        if char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        yield position, char, depth


def _up_to_closing(statement: str, start: int) -> tuple[str, str]:
    """The text from ``start`` up to the parenthesis that closes the one before it, and the
    rest after that parenthesis."""
    for position, char, depth in _depths(statement, start):
        if char == ")" and depth == -1:
            return statement[start:position], statement[position + 1 :]
    raise ValueError(f"unbalanced parentheses in {statement!r}")


def _top_level(part: str, separator: str) -> list[str]:
    """``part`` split at ``separator`` outside parentheses and quotes, each piece stripped."""
    cuts = [p for p, char, depth in _depths(part) if char == separator and depth == 0]
    bounds = zip([-1, *cuts], [*cuts, len(part)], strict=True)
    return [piece for a, b in bounds if (piece := part[a + 1 : b].strip())]


def _unquoted(identifier: str) -> str:
    match = _IDENTIFIER.match(identifier.strip())
    if match is None:
        return identifier.strip()
    return match[1].replace('""', '"') if match[1] is not None else match[2]
