"""Structured logs: one JSON object per line, with the correlation id, secrets masked.

:func:`log_config` sets a whole server process up (uvicorn included, its
access line replaced by lamina's); :class:`PlainLogFormatter` is the readable
alternative for a terminal.

>>> configure_logging("INFO")
>>> logging.getLogger("app").info("paid", extra={"order": 42, "card_token": "tok_1"})
{"time": "2025-01-01T12:00:00.000Z", "level": "INFO", "logger": "app", "message": "paid",
 "correlation_id": "0193…", "order": 42, "card_token": "***"}
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from lamina.api.request_context import peek_context
from lamina.domain.entity import MASK

SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "private_key",
    "credential",
)
"""A key containing any of these (case-insensitive, ``-`` read as ``_``) has its value masked."""

_MAX_DEPTH = 8
_STANDARD_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}  # uvicorn's terminal colours


def is_sensitive_key(key: str) -> bool:
    """Whether values under ``key`` are secret (``Authorization``, ``db_password``)."""
    normalized = key.lower().replace("-", "_")
    return any(part in normalized for part in SENSITIVE_KEY_PARTS)


def mask_sensitive(value: Any, _depth: int = 0) -> Any:
    """``value`` with every value under a sensitive key replaced by ``MASK``, at any depth."""
    if _depth > _MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        return {
            key: MASK if is_sensitive_key(str(key)) else mask_sensitive(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_sensitive(item, _depth + 1) for item in value]
    return value


class JsonLogFormatter(logging.Formatter):
    """Formats a record as one line of JSON.

    Members: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``correlation_id`` and ``actor_id`` of the current EventContext (when
    one is set), every ``extra=`` field with secrets masked, and
    ``exception`` (the traceback) when the record has one. Values JSON cannot
    represent are written with ``str()``.
    """

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = peek_context()
        if context is not None:
            data["correlation_id"] = context.correlation_id
            if context.actor_id is not None:
                data["actor_id"] = str(context.actor_id)
        extra = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD_RECORD_FIELDS and not key.startswith("_")
        }
        for key, value in mask_sensitive(extra).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class PlainLogFormatter(logging.Formatter):
    """One readable line per record: time, level, logger, message, then the correlation id
    and the ``extra=`` fields (secrets masked) as ``key=value``: for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD_RECORD_FIELDS and not key.startswith("_")
        }
        context = peek_context()
        if context is not None:
            fields = {"correlation_id": context.correlation_id, **fields}
        shown = " ".join(f"{key}={value}" for key, value in mask_sensitive(fields).items())
        line = f"{_utc_iso(record.created)} {record.levelname:<7} {record.name}: "
        line += record.getMessage() + (f"  [{shown}]" if shown else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


LOG_FORMATS = {"json": JsonLogFormatter, "plain": PlainLogFormatter}
"""The formats :func:`log_config` knows."""


def log_config(log_format: str = "json", level: str = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for a whole server process, uvicorn included.

    Every logger writes one line per record to stderr, as JSON (``log_format``
    ``"json"``, the default) or readable text (``"plain"``). uvicorn's own
    access line is off: lamina writes one per request, with its correlation
    id (``lamina.api.access``). Give it to ``uvicorn.run(..., log_config=...)``,
    which applies it in every worker process.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"unknown log format {log_format!r}: use {' or '.join(LOG_FORMATS)}")
    formatter = f"{LOG_FORMATS[log_format].__module__}.{LOG_FORMATS[log_format].__name__}"
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "lamina",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lamina": {"()": formatter}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure_logging(level: int | str = "INFO", *, stream: IO[str] | None = None) -> None:
    """Make the root logger write JSON lines (to stderr by default) at ``level``.

    Replaces the root logger's handlers; loggers that propagate (lamina's do)
    then log as JSON. For one access line per request, start uvicorn with
    ``--no-access-log`` (lamina writes its own, on ``lamina.api.access``).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)


def _utc_iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
