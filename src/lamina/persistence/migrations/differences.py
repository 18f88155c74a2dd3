"""Alembic's autogenerate differences as one readable line each.

Each line says what a migration would have to do to the database for it to
match the models, for example ``add column tickets.priority (INTEGER)`` or
``change type of tickets.title: VARCHAR(100) -> VARCHAR(200)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import CheckConstraint, Column, Dialect, ForeignKeyConstraint, Index, Table
from sqlalchemy.exc import CompileError
from sqlalchemy.schema import Constraint
from sqlalchemy.types import TypeEngine

from lamina.persistence.migrations.index_definitions import definition_text


def describe_differences(differences: Iterable[Any], dialect: Dialect) -> list[str]:
    """One line per difference returned by ``alembic.autogenerate.compare_metadata``."""
    lines: list[str] = []
    for difference in differences:
        # Column modifications come grouped in a list, one tuple per changed attribute.
        group = difference if isinstance(difference, list) else [difference]
        lines.extend(_describe(tuple(item), dialect) for item in group)
    return lines


def _describe(difference: tuple[Any, ...], dialect: Dialect) -> str:
    kind = difference[0]
    if kind in ("add_table", "remove_table"):
        table: Table = difference[1]
        return f"{_verb(kind)} table {table.name}"
    if kind in ("add_column", "remove_column"):
        _, _, table_name, column = difference
        return f"{_verb(kind)} column {table_name}.{column.name} ({_type(column, dialect)})"
    if kind in ("add_index", "remove_index"):
        index: Index = difference[1]
        unique = "unique " if index.unique else ""
        covered = definition_text(index, dialect)
        return f"{_verb(kind)} {unique}index {index.name} on {_table_of(index)} {covered}"
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint: Constraint = difference[1]
        return f"{_verb(kind)} {_constraint(constraint)}"
    if kind.startswith("modify_"):
        _, _, table_name, column_name, _, old, new = difference
        what = kind.removeprefix("modify_")
        return (
            f"change {what} of {table_name}.{column_name}: "
            f"{_value(old, dialect)} -> {_value(new, dialect)}"
        )
    return " ".join(str(part) for part in difference)


def _verb(kind: str) -> str:
    return "add" if kind.startswith("add_") else "remove"


def _table_of(item: Index | Constraint) -> str:
    table = item.table
    return table.name if isinstance(table, Table) else "?"


def _constraint(constraint: Constraint) -> str:
    name = f"{constraint.name or '(unnamed)'} on {_table_of(constraint)}"
    if isinstance(constraint, CheckConstraint):
        return f"check constraint {name}: {constraint.sqltext}"
    columns = ", ".join(column.name for column in getattr(constraint, "columns", ()))
    described = f"{name} ({columns})"
    if isinstance(constraint, ForeignKeyConstraint):
        return f"foreign key {described} -> {constraint.referred_table.name}"
    kind = type(constraint).__name__.removesuffix("Constraint").lower()
    return f"{kind} constraint {described}"


def _type(column: Column[Any], dialect: Dialect) -> str:
    return _value(column.type, dialect)


def _value(value: object, dialect: Dialect) -> str:
    if isinstance(value, TypeEngine):
        try:
            return str(value.compile(dialect=dialect))
        except CompileError:
            return repr(value)
    return repr(value)
