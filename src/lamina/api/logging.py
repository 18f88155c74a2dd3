"""Structured logs: one JSON object per line, with the correlation id, secrets masked.

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
_STANDARD_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


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
