"""Compile SQLAlchemy Core statements once per shape, then run them on a raw connection.

A statement is built with named bind parameters only and compiled for the
dialect the first time its *shape* (a hashable key) is seen; after that a call
costs a dictionary lookup and the conversion of its arguments. Type conversion
(UUIDs, JSON, enums, timestamps) uses SQLAlchemy's own type processors, so rows
written here read the same through SQLAlchemy and the other way round.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Float, Numeric, Table, Uuid
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeEngine

from lamina.domain.ids import uuid_from_hex, uuid_hex
from lamina.persistence.connection import Connection, InsertRows

Processor = Callable[[Any], Any] | None
T = TypeVar("T")

_PG_FLOAT_OID = 701
_PG_NUMERIC_OID = 1700


def dialect_for(name: str) -> Dialect:
    """The SQLAlchemy dialect lamina compiles for: ``postgresql`` (asyncpg) or ``sqlite``."""
    if name == "postgresql":
        return pg_asyncpg.dialect()  # type: ignore[no-untyped-call]
    if name == "sqlite":
        return pysqlite.dialect(dbapi=sqlite3)
    raise ValueError(f"unsupported database: {name}")


def _uuid_as_text(impl: TypeEngine[Any], dialect: Dialect) -> bool:
    """True for SQLAlchemy's own ``Uuid`` (``as_uuid``) stored as 32 hex digits (SQLite)."""
    return (
        type(impl) is Uuid
        and bool(impl.as_uuid)
        and not (dialect.supports_native_uuid and impl.native_uuid)
    )


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    impl = type_.dialect_impl(dialect)
    if _uuid_as_text(impl, dialect):  # SQLAlchemy's processor, done faster (bulk writes)
        return uuid_hex
    return impl.bind_processor(dialect)


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    impl = type_.dialect_impl(dialect)
    if _uuid_as_text(impl, dialect):  # SQLAlchemy's processor, done faster (every read)
        return uuid_from_hex
    coltype: int | None = None
    if dialect.name == "postgresql" and isinstance(impl, Numeric | Float):  # no subclass in 2.1
        coltype = _PG_FLOAT_OID if isinstance(impl, Float) else _PG_NUMERIC_OID
    return impl.result_processor(dialect, coltype)


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """A statement compiled for one dialect, with its argument and result converters."""

    sql: str
    names: tuple[str, ...]
    result_names: tuple[str, ...]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    """``(position, processor)`` of the result columns that need converting."""
    bind_converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    """``(position, processor)`` of the parameters that need converting."""
    bind_slots: tuple[tuple[str, Any, Processor], ...]
    """``(name, default, processor)`` of each parameter, in position order."""

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """Positional driver arguments from named parameters (converted for the driver)."""
        get = params.get
        return [
            value if proc is None or value is None else proc(value)
            for name, default, proc in self.bind_slots
            for value in [get(name, default)]
        ]

    def positional_arguments(self, values: Sequence[Any]) -> list[Any]:
        """Driver arguments from values given in the order of :attr:`names`."""
        return _converted(values, self.bind_converters)

    def convert_row(self, row: Sequence[Any]) -> list[Any]:
        """A result row with every value converted to its Python type."""
        return _converted(row, self.converters)

    async def fetch_values(self, conn: Connection, params: Mapping[str, Any]) -> list[list[Any]]:
        """Run on ``conn`` and return converted rows as lists, in column order."""
        convert = self.convert_row
        return [convert(row) for row in await conn.fetch(self.sql, self.arguments(params))]

    def arguments_many(self, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        """Driver arguments for many rows given positionally, in the order of ``names``.

        Works column by column: a column holding one value in every row (the
        timestamps and actors of a batch) is converted once, a column without
        processor is left alone; rows come back as new sequences when any column
        needed converting.
        """
        count = len(rows)
        if not count or not self.bind_converters:
            return rows
        if count == 1:  # a single add
            return [self.positional_arguments(rows[0])]
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for i, proc in self.bind_converters:
            column = columns[i]
            first = column[0]
            if column[-1] is first and column.count(first) == count:  # one object throughout
                if first is not None:
                    columns[i] = (proc(first),) * count
            else:
                columns[i] = [None if value is None else proc(value) for value in column]
        return list(zip(*columns, strict=True))

    def as_dicts(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Result rows as ``{column name: converted value}``."""
        names = self.result_names
        return [dict(zip(names, self.convert_row(row), strict=True)) for row in rows]

    async def fetch(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run on ``conn`` and return converted rows as dictionaries."""
        return self.as_dicts(await conn.fetch(self.sql, self.arguments(params)))

    async def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run on ``conn`` and return the number of rows changed."""
        return await conn.execute(self.sql, self.arguments(params))

    def insert_rows(self, table: Table, rows: Sequence[Sequence[Any]]) -> InsertRows:
        """This one-row INSERT into ``table`` for many rows (given in the order of ``names``)."""
        return InsertRows(table.name, self.names, self.sql, self.arguments_many(rows), table.schema)

    def batch(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[list[Any]]]:
        """This statement with argument rows, ready for ``execute_many`` or a commit batch."""
        return self.sql, [self.arguments(r) for r in rows]


class StatementCache:
    """Compiled statements of one dialect, keyed by shape (bounded, least recent evicted)."""

    def __init__(self, dialect: Dialect, max_size: int = 2048) -> None:
        self.dialect = dialect
        self._max_size = max_size
        self._compiled: dict[Hashable, CompiledStatement] = {}
        self._prepared: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], ClauseElement]) -> CompiledStatement:
        """The compiled statement for ``key``, building and compiling it on first use."""
        found = self._compiled.get(key)
        if found is not None:
            return found
        compiled = self.compile(build())
        if len(self._compiled) >= self._max_size:
            self._compiled.pop(next(iter(self._compiled)))
        self._compiled[key] = compiled
        return compiled

    def prepared(self, key: Hashable, build: Callable[[], T]) -> T:
        """What ``build`` makes (from statements it compiles with :meth:`compile`) for
        ``key``, made on first use and then kept, as bounded as the statements."""
        found: T | None = self._prepared.get(key)
        if found is not None:
            return found
        made = build()
        if len(self._prepared) >= self._max_size:
            self._prepared.pop(next(iter(self._prepared)))
        self._prepared[key] = made
        return made

    def compile(self, statement: ClauseElement) -> CompiledStatement:
        """Compile ``statement`` now (use :meth:`get` to reuse the result)."""
        dialect = self.dialect
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        defaults = compiled.params
        bind_procs = tuple(_bind_processor(binds[n].type, dialect) for n in names)
        columns = list(getattr(statement, "exported_columns", ()) or ())
        result_procs = tuple(_result_processor(c.type, dialect) for c in columns)
        return CompiledStatement(
            sql=compiled.string,
            names=names,
            result_names=tuple(c.key for c in columns),
            converters=_converters(result_procs),
            bind_converters=_converters(bind_procs),
            bind_slots=tuple(
                (n, defaults.get(n), proc) for n, proc in zip(names, bind_procs, strict=True)
            ),
        )


def _converted(
    row: Sequence[Any], converters: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> list[Any]:
    """``row`` with each ``(position, processor)`` of ``converters`` applied (None stays None)."""
    out = list(row)
    for i, proc in converters:
        value = out[i]
        if value is not None:
            out[i] = proc(value)
    return out


def _converters(procs: Sequence[Processor]) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """``(position, processor)`` of the processors that are not None."""
    return tuple((i, p) for i, p in enumerate(procs) if p is not None)
