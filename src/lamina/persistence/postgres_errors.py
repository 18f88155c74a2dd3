"""What asyncpg's exceptions mean (see :mod:`lamina.persistence.driver_errors`).

PostgreSQL names the broken constraint (and, for NOT NULL, the column) on the
exception. Imported only once asyncpg is: before that, no exception can be one
of asyncpg's.
"""

from __future__ import annotations

import re

import asyncpg

from lamina.persistence.driver_errors import Failure, FailureKind

ERROR_TYPES: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError)

_TRANSIENT = (
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.LockNotAvailableError,
)
_CONNECTION = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,
)
_OUTAGES = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
_KEY_COLUMNS = re.compile(r"Key \((.+?)\)=")


def is_transient(exc: BaseException) -> bool:
    """True for a serialization failure, a deadlock or a lock wait past ``lock_timeout``."""
    return isinstance(exc, _TRANSIENT)


def is_connection_error(exc: BaseException) -> bool:
    """True if the connection was lost or could not be made."""
    return isinstance(exc, _CONNECTION)


def is_outage(exc: BaseException) -> bool:
    """True if the server refuses connections, has too many, shuts down, or dropped ours."""
    if isinstance(exc, _OUTAGES) or is_transient(exc):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


def failure(exc: BaseException) -> Failure | None:
    """The broken rule, bad value or cancelled statement ``exc`` reports."""
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        found = _KEY_COLUMNS.search(exc.detail or "")
        columns = tuple(c.strip() for c in found.group(1).split(",")) if found else ()
        return Failure(FailureKind.UNIQUE, exc.constraint_name, columns)
    if isinstance(exc, asyncpg.exceptions.ForeignKeyViolationError):
        return Failure(FailureKind.FOREIGN_KEY, exc.constraint_name)
    if isinstance(exc, asyncpg.exceptions.NotNullViolationError):
        columns = (exc.column_name,) if exc.column_name else ()
        return Failure(FailureKind.NOT_NULL, exc.constraint_name, columns)
    if isinstance(exc, asyncpg.exceptions.CheckViolationError):
        return Failure(FailureKind.CHECK, exc.constraint_name)
    if isinstance(exc, asyncpg.exceptions.DataError):
        return Failure(FailureKind.BAD_VALUE)
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError):
        return Failure(FailureKind.TIMEOUT)
    return None
