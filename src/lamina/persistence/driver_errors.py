"""What a driver's exception means, in terms every driver shares.

Each driver reads its own exceptions: :mod:`lamina.persistence.sqlite_errors`
(``sqlite3``) and :mod:`lamina.persistence.postgres_errors` (asyncpg). Both
answer the questions of :class:`DriverErrors`; :mod:`lamina.persistence.errors`
asks them and turns the answers into lamina's domain errors, so one input gets
the same error on every database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class FailureKind(enum.Enum):
    """Why the database refused a statement."""

    UNIQUE = "unique"
    FOREIGN_KEY = "foreign key"
    NOT_NULL = "not null"
    CHECK = "check"
    OTHER_RULE = "other rule"
    """An integrity rule the driver does not say more about."""
    BAD_VALUE = "bad value"
    """A value that does not fit its column (too long, out of range)."""
    TIMEOUT = "timeout"
    """The statement ran past its time limit and was cancelled."""


@dataclass(frozen=True, slots=True)
class Failure:
    """A statement the database refused: the rule and, where the driver says, what it covers.

    ``constraint`` is the rule's name as the database knows it (``ck_courses_price``);
    ``columns`` are column names as the driver reports them (SQLite names columns
    rather than the constraint of a broken unique rule, PostgreSQL the reverse).
    """

    kind: FailureKind
    constraint: str | None = None
    columns: tuple[str, ...] = ()


class DriverErrors(Protocol):
    """The questions lamina asks about one driver's exceptions (answered by a module)."""

    ERROR_TYPES: tuple[type[Exception], ...]
    """The base classes of the driver's exceptions."""

    def is_transient(self, exc: BaseException) -> bool:
        """True if re-running the whole transaction may succeed (conflict, deadlock, lock wait)."""

    def is_connection_error(self, exc: BaseException) -> bool:
        """True if the connection was lost or could not be made."""

    def is_outage(self, exc: BaseException) -> bool:
        """True if the database cannot be used for now (busy, refusing, shutting down)."""

    def failure(self, exc: BaseException) -> Failure | None:
        """The refused statement ``exc`` reports, or None if it reports none."""
