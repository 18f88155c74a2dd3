"""What ``sqlite3``'s exceptions mean (see :mod:`lamina.persistence.driver_errors`).

SQLite says what broke in the message only: ``UNIQUE constraint failed: t.a, t.b``
names the columns, ``CHECK constraint failed: ck_t_rule`` the rule.
"""

from __future__ import annotations

import re
import sqlite3

from lamina.persistence.driver_errors import Failure, FailureKind

ERROR_TYPES: tuple[type[Exception], ...] = (sqlite3.Error,)

_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_NOT_NULL = re.compile(r"NOT NULL constraint failed: (.+)")
_CHECK = re.compile(r"CHECK constraint failed: (.+)")
_INDEX = re.compile(r"index '(.+)'")
_BUSY_MESSAGES = ("database is locked", "database table is locked")


def is_transient(exc: BaseException) -> bool:
    """True for a busy or locked database: another writer held the lock too long."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return "database is locked" in text or "database is busy" in text
    return False


def is_connection_error(exc: BaseException) -> bool:
    """Never: an SQLite file has no connection to lose."""
    return False


def is_outage(exc: BaseException) -> bool:
    """True when another writer keeps the file (or a table) locked."""
    return is_transient(exc) or (
        isinstance(exc, sqlite3.OperationalError) and str(exc) in _BUSY_MESSAGES
    )


def _column(qualified: str) -> str:
    """``col`` of ``table.col``."""
    return qualified.strip().split(".")[-1]


def failure(exc: BaseException) -> Failure | None:
    """The broken rule of an ``IntegrityError``, read from its message."""
    if not isinstance(exc, sqlite3.IntegrityError):
        return None
    text = str(exc)
    if m := _UNIQUE.search(text):
        if index := _INDEX.fullmatch(m.group(1).strip()):  # a unique index on expressions
            return Failure(FailureKind.UNIQUE, constraint=index.group(1))
        columns = tuple(_column(part) for part in m.group(1).split(","))
        return Failure(FailureKind.UNIQUE, columns=columns)
    if "FOREIGN KEY" in text:
        return Failure(FailureKind.FOREIGN_KEY)
    if m := _NOT_NULL.search(text):
        return Failure(FailureKind.NOT_NULL, columns=(_column(m.group(1)),))
    if m := _CHECK.search(text):
        return Failure(FailureKind.CHECK, constraint=m.group(1).strip())
    return Failure(FailureKind.OTHER_RULE)
