"""Turn driver exceptions into lamina's domain errors, and tell transient failures apart."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence

import asyncpg
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Table, UniqueConstraint

from lamina.domain.errors import (
    AlreadyExists,
    DomainError,
    FieldError,
    InvalidInput,
    ReferenceMissing,
    Unavailable,
)
from lamina.persistence.types import NaiveDatetimeError

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_SQLITE_UNIQUE_INDEX = re.compile(r"index '(.+)'")
_SQLITE_NOT_NULL = re.compile(r"NOT NULL constraint failed: (.+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (.+)")

_PG_TRANSIENT = (
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.LockNotAvailableError,
)
_PG_CONNECTION = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
    OSError,
)


class ConnectionLost(Unavailable):
    """The connection failed before anything was committed: re-running the unit of work is safe."""


def is_connection_error(exc: BaseException) -> bool:
    """True if ``exc`` means the connection was lost or could not be made."""
    if isinstance(exc, sqlite3.Error):
        return False
    return isinstance(exc, _PG_CONNECTION)


def is_foreign_key_violation(exc: BaseException) -> bool:
    """True if ``exc`` is a broken foreign key, on either database."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "FOREIGN KEY" in str(exc)
    return isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError)


def is_transient(exc: BaseException) -> bool:
    """True if re-running the whole transaction may succeed (conflict, deadlock, lock wait)."""
    if isinstance(exc, _PG_TRANSIENT):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return "database is locked" in text or "database is busy" in text
    return False


def _fields_of(table: Table, columns: Sequence[str], names: Callable[[str], str]) -> list[str]:
    return [names(c) for c in columns if c in table.c]


def _constraint_columns(table: Table, name: str | None) -> list[str]:
    if not name:
        return []
    for constraint in table.constraints:
        if constraint.name == name and isinstance(
            constraint, UniqueConstraint | ForeignKeyConstraint
        ):
            return [c.name for c in constraint.columns]
    for index in table.indexes:
        if index.name == name:
            return [c.name for c in index.columns if hasattr(c, "name")]
    if table.primary_key.name == name:
        return [c.name for c in table.primary_key.columns]
    return []


def _sqlite_unique_columns(table: Table, failed: str) -> list[str]:
    """The columns SQLite names in "UNIQUE constraint failed: ...": ``t.a, t.b``, or
    ``index 'name'`` for an index on expressions (a live-unique one, say)."""
    if m := _SQLITE_UNIQUE_INDEX.fullmatch(failed.strip()):
        return _constraint_columns(table, m.group(1))
    return [part.strip().split(".")[-1] for part in failed.split(",")]


def _check_name(table: Table, name: str) -> str:
    for constraint in table.constraints:
        if isinstance(constraint, CheckConstraint) and constraint.name in (
            name,
            f"ck_{table.name}_{name}",
        ):
            return str(constraint.name)
    return name


def translate(
    exc: BaseException, *, entity: str, table: Table, field_name: Callable[[str], str]
) -> DomainError | None:
    """The domain error ``exc`` stands for when reading or writing ``entity`` rows, or None.

    ``field_name`` maps a column name to the entity field name shown to callers.
    """
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, NaiveDatetimeError):
        return InvalidInput(f"{entity}: {exc}", [FieldError("", str(exc))])
    if isinstance(exc, sqlite3.IntegrityError):
        text = str(exc)
        if m := _SQLITE_UNIQUE.search(text):
            cols = _sqlite_unique_columns(table, m.group(1))
            return AlreadyExists(entity, _fields_of(table, cols, field_name) or cols)
        if "FOREIGN KEY" in text:
            fks = [c.name for fk in table.foreign_key_constraints for c in fk.columns]
            return ReferenceMissing(entity, [field_name(c) for c in fks])
        if m := _SQLITE_NOT_NULL.search(text):
            col = m.group(1).strip().split(".")[-1]
            return InvalidInput.for_field(field_name(col), "a value is required")
        if m := _SQLITE_CHECK.search(text):
            name = _check_name(table, m.group(1).strip())
            return InvalidInput(f"{entity}: rule {name} broken", [FieldError("", f"breaks {name}")])
        return InvalidInput(f"{entity}: the change breaks a database rule")
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        cols = _constraint_columns(table, exc.constraint_name)
        if not cols and (m := re.search(r"Key \((.+?)\)=", exc.detail or "")):
            cols = [c.strip() for c in m.group(1).split(",")]
        return AlreadyExists(entity, [field_name(c) for c in cols])
    if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError):
        cols = _constraint_columns(table, exc.constraint_name)
        return ReferenceMissing(entity, [field_name(c) for c in cols])
    if isinstance(exc, asyncpg.exceptions.NotNullViolationError):
        return InvalidInput.for_field(field_name(exc.column_name or ""), "a value is required")
    if isinstance(exc, asyncpg.exceptions.CheckViolationError):
        name = exc.constraint_name or "a check"
        return InvalidInput(f"{entity}: rule {name} broken", [FieldError("", f"breaks {name}")])
    if isinstance(exc, asyncpg.exceptions.DataError):
        return InvalidInput(f"{entity}: a value does not fit its column")
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError):
        return Unavailable("the database took too long to answer")
    return None
