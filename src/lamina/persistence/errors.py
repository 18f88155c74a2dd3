"""Turn driver exceptions into lamina's domain errors, and tell transient failures apart.

The drivers' own modules read their exceptions (:mod:`lamina.persistence.sqlite_errors`,
:mod:`lamina.persistence.postgres_errors`); this module maps what they find onto the
table's metadata, so the same input gets the same error on SQLite and PostgreSQL:

* unique: :class:`AlreadyExists`, naming the fields (409 over HTTP);
* foreign key, on a write: :class:`ReferenceMissing`, naming the fields (422);
  on a hard delete of a row others still refer to, the repository raises
  :class:`~lamina.domain.Conflict` (409);
* CHECK: :class:`ConstraintViolated`, naming the constraint and, if it covers one
  column, that field (422, as a Pydantic rule on the field);
* NOT NULL, or a value that does not fit its column: :class:`InvalidInput` (400);
* a statement past its timeout: :class:`Unavailable` (503).

The asyncpg module is looked at only once asyncpg is loaded: an application on
SQLite runs without it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator

from pydantic_core import PydanticSerializationError
from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Table, UniqueConstraint
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause, TextClause

from lamina.domain.errors import (
    AlreadyExists,
    Conflict,
    ConstraintViolated,
    DomainError,
    FieldError,
    InvalidInput,
    ReferenceMissing,
    Unavailable,
)
from lamina.persistence import sqlite_errors
from lamina.persistence.driver_errors import DriverErrors, Failure, FailureKind
from lamina.persistence.types import NaiveDatetimeError

OUTAGE_MESSAGE = "a dependency of this service is unavailable; try again later"
"""The message of the :class:`Unavailable` that :func:`outage_error` gives."""

_MAX_CAUSES = 16
_QUOTED_TEXT = re.compile(r"'(?:[^']|'')*'")
_IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


class ConnectionLost(Unavailable):
    """The connection failed before anything was committed: re-running the unit of work is safe."""


IN_FAILED_TRANSACTION = "25P02"
"""PostgreSQL's SQLSTATE for a statement sent in a transaction a failed one aborted."""

ABORTED_MESSAGE = (
    "the transaction was aborted by a statement that failed in it, so nothing of it was "
    "written; on PostgreSQL a use case cannot carry on after a failed write"
)


class TransactionAborted(Conflict):
    """A unit of work carried on after one of its writes failed (a caught ``AlreadyExists``),
    and PostgreSQL had aborted its transaction: nothing of it was written (409). Check first
    (``exists``), or let the error end the unit of work."""


def _drivers() -> tuple[DriverErrors, ...]:
    """The error readers of the drivers loaded so far (asyncpg's only once asyncpg is)."""
    if sys.modules.get("asyncpg") is None:
        return (sqlite_errors,)
    from lamina.persistence import postgres_errors

    return (sqlite_errors, postgres_errors)


def database_error_types() -> tuple[type[Exception], ...]:
    """The exception classes a database failure can surface as, for the drivers loaded now.

    For exception handlers: whether an instance is an outage is for :func:`is_outage` to say.
    """
    driver_types = tuple(t for driver in _drivers() for t in driver.ERROR_TYPES)
    return (OSError, sa_exc.SQLAlchemyError, *driver_types)


def failure(exc: BaseException) -> Failure | None:
    """The statement the database refused, as ``exc`` reports it (any driver), or None."""
    for driver in _drivers():
        found = driver.failure(exc)
        if found is not None:
            return found
    return None


def is_connection_error(exc: BaseException) -> bool:
    """True if ``exc`` means the connection was lost or could not be made."""
    return isinstance(exc, OSError) or any(d.is_connection_error(exc) for d in _drivers())


def is_foreign_key_violation(exc: BaseException) -> bool:
    """True if ``exc`` is a broken foreign key, on either database."""
    found = failure(exc)
    return found is not None and found.kind is FailureKind.FOREIGN_KEY


def is_transient(exc: BaseException) -> bool:
    """True if re-running the whole transaction may succeed (conflict, deadlock, lock wait)."""
    return any(driver.is_transient(exc) for driver in _drivers())


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the database is unreachable.

    Connection refused or lost, too many connections, server shutting down,
    pool exhausted, a SQLite file locked by another writer, a deadlock or lock
    wait that outlasted the retries: safe to retry later. A bug (bad SQL, a
    missing table) is not an outage.
    """
    return any(_is_outage_itself(cause) for cause in _causes(exc))


def outage_error(exc: BaseException) -> Unavailable | None:
    """The :class:`Unavailable` that ``exc`` stands for if it is an outage (:func:`is_outage`)."""
    return Unavailable(OUTAGE_MESSAGE) if is_outage(exc) else None


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, OSError | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return any(driver.is_outage(exc) for driver in _drivers())


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it was raised from, and the members of exception groups (bounded)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < _MAX_CAUSES:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        if current.__cause__ is not None:
            pending.append(current.__cause__)


SURROGATES = "text must be valid Unicode: no lone surrogates (U+D800 to U+DFFF)"


def _unencodable_text(exc: BaseException) -> bool:
    """Whether ``exc`` is text that cannot be encoded to UTF-8 (a lone surrogate, which JSON
    can carry), raised by the driver or by the audit entry's JSON on the way."""
    if isinstance(exc, UnicodeEncodeError):
        return True
    return isinstance(exc, PydanticSerializationError) and "surrogates not allowed" in str(exc)


def translate(
    exc: BaseException, *, entity: str, table: Table, field_name: Callable[[str], str]
) -> DomainError | None:
    """The domain error ``exc`` stands for when reading or writing ``entity`` rows, or None.

    ``field_name`` maps a column name to the entity field name shown to callers.
    """
    if isinstance(exc, DomainError):
        return exc
    if getattr(exc, "sqlstate", None) == IN_FAILED_TRANSACTION:
        return TransactionAborted(ABORTED_MESSAGE)
    if isinstance(exc, NaiveDatetimeError):
        return InvalidInput(f"{entity}: {exc}", [FieldError("", str(exc))])
    if _unencodable_text(exc):
        return InvalidInput(f"{entity}: {SURROGATES}", [FieldError("", SURROGATES)])
    found = failure(exc)
    if found is None:
        return None
    kind = found.kind
    if kind is FailureKind.UNIQUE:
        columns = _constraint_columns(table, found.constraint) or list(found.columns)
        return AlreadyExists(entity, [field_name(c) for c in columns])
    if kind is FailureKind.FOREIGN_KEY:
        columns = _constraint_columns(table, found.constraint) or [
            c.name for fk in table.foreign_key_constraints for c in fk.columns
        ]
        return ReferenceMissing(entity, [field_name(c) for c in columns])
    if kind is FailureKind.NOT_NULL:
        column = found.columns[0] if found.columns else ""
        return InvalidInput.for_field(field_name(column), "a value is required")
    if kind is FailureKind.CHECK:
        return _check_violated(found.constraint, entity, table, field_name)
    if kind is FailureKind.BAD_VALUE:
        return InvalidInput(f"{entity}: a value does not fit its column")
    if kind is FailureKind.TIMEOUT:
        return Unavailable("the database took too long to answer")
    return InvalidInput(f"{entity}: the change breaks a database rule")


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


def _check_violated(
    reported: str | None, entity: str, table: Table, field_name: Callable[[str], str]
) -> ConstraintViolated:
    """The error of a broken CHECK: its name, and the field it covers if it covers one."""
    check = _check_constraint(table, reported) if reported else None
    if check is None:
        return ConstraintViolated(entity, reported or "a check constraint")
    columns = check_columns(check, table)
    fields = [field_name(columns[0])] if len(columns) == 1 else []
    return ConstraintViolated(entity, str(check.name), fields)


def _check_constraint(table: Table, name: str) -> CheckConstraint | None:
    """The table's CHECK called ``name`` (its full name, or as declared before the convention)."""
    candidates = [*table.constraints, *(c for col in table.columns for c in col.constraints)]
    for constraint in candidates:
        if isinstance(constraint, CheckConstraint) and constraint.name in (
            name,
            f"ck_{table.name}_{name}",
        ):
            return constraint
    return None


def check_columns(check: CheckConstraint, table: Table) -> list[str]:
    """The columns of ``table`` that ``check`` reads, in table order.

    Found in its expression: column objects, and names in SQL text
    (``CheckConstraint("price >= 0")``) outside quoted strings.
    """
    names: set[str] = set()
    for element in visitors.iterate(check.sqltext):
        if isinstance(element, ColumnClause):
            names.add(element.name)
        elif isinstance(element, TextClause):
            unquoted = _QUOTED_TEXT.sub(" ", element.text)
            for quoted, bare in _IDENTIFIER.findall(unquoted):
                names.add(quoted.replace('""', '"') if quoted else bare)
    return [c.name for c in table.columns if c.name in names]
