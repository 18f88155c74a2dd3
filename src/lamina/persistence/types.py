"""Column types that behave the same on every database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator

_from_iso = datetime.fromisoformat


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone was given where an aware one is required."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (G13).

    PostgreSQL stores ``timestamptz``; SQLite, which has no time zones, stores
    the UTC wall time and the value is made aware again when read. Naive
    datetimes are refused: their meaning would depend on the server's clock.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        """Values read back are ``datetime`` instances."""
        return datetime

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = _as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return _utc_from_aware(value)

    # The two processors below do what the methods above do, in one step instead of
    # SQLAlchemy's chain through the impl type (every timestamp read goes through them).

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, the UTC wall time as SQLAlchemy's ``DATETIME`` stores it, in one step."""
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        """An aware UTC datetime from what the driver returns, in one step."""
        if dialect.name == "sqlite":
            return _utc_from_sqlite_text
        if dialect.name == "postgresql":
            return _utc_from_aware
        return super().result_processor(dialect, coltype)


def _as_utc(value: Any) -> datetime:
    """``value`` in UTC; a naive datetime or another type is refused."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError("naive datetime refused: give a timezone-aware value")
    return value.astimezone(UTC)


def _sqlite_text(value: Any) -> str | None:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` of the UTC wall time (SQLAlchemy's SQLite format)."""
    if value is None:
        return None
    return _as_utc(value).isoformat(" ", "microseconds")[:-6]  # drop the "+00:00"


def _utc_from_sqlite_text(value: Any) -> datetime | None:
    """The stored UTC wall time as an aware datetime (text with an offset is converted)."""
    if value is None:
        return None
    try:
        parsed = _from_iso(value + "+00:00")  # one C call; datetime.replace is far slower
    except ValueError:  # it has an offset of its own (written elsewhere)
        parsed = _from_iso(value)
    return parsed if parsed.tzinfo is UTC else _utc_from_aware(parsed)


def _utc_from_aware(value: Any) -> datetime | None:
    """``value`` in UTC (asyncpg reads ``timestamptz`` aware; a naive value is taken as UTC)."""
    if value is None or value.tzinfo is UTC:
        return value  # type: ignore[no-any-return]
    stored: datetime = value
    return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)
