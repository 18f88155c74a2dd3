"""How a relayed event looks on the broker: its subject, headers and body (JSON or MessagePack).

This is the contract other services read (``lamina events schema`` prints it
as a JSON Schema document):

* **subject** ``<prefix>.<event type>.<stream id>``, for example
  ``lamina.message.posted.0193c1de-…``. Characters a NATS subject token
  other than letters, digits and ``_-:@+=`` in the stream id (``.``, ``*``,
  ``>``, spaces…) become ``_``; the event type keeps its dots, so ``lamina.message.>`` selects
  every ``message.*`` event.
* **headers** ``Nats-Msg-Id`` (the event id: JetStream drops a re-published
  copy), ``Nats-Expected-Last-Sequence`` and, unless it was first in its
  batch, ``Nats-Expected-Last-Msg-Id`` (the stream sequence and the message
  the relay published it behind: JetStream refuses it anywhere else, so the
  stream has no holes; whoever publishes a relayed message again must drop
  the ``Nats-`` headers, see :func:`is_jetstream_header`), ``Lamina-Position``,
  ``Lamina-Event-Id``, ``Lamina-Event-Type``, ``Lamina-Schema-Version``,
  ``Lamina-Stream-Id``, ``Lamina-Correlation-Id``, ``Lamina-Priority`` (0 low
  … 3 critical) and ``Content-Type`` (``application/json`` or
  ``application/msgpack``).
* **body** the whole stored record (:class:`~lamina.events.StoredEvent`:
  position, event id, stream, type, schema version, payload, context, priority,
  recorded at) as UTF-8 JSON, or the same data model as MessagePack.
"""

from __future__ import annotations

import re
from typing import Literal

from lamina.events.stored import StoredEvent

Encoding = Literal["json", "msgpack"]
"""How the body of a relayed event is written."""

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
POSITION = "Lamina-Position"
EVENT_ID = "Lamina-Event-Id"
EVENT_TYPE = "Lamina-Event-Type"
SCHEMA_VERSION = "Lamina-Schema-Version"
STREAM_ID = "Lamina-Stream-Id"
CORRELATION_ID = "Lamina-Correlation-Id"
PRIORITY = "Lamina-Priority"
CONTENT_TYPE = "Content-Type"

CONTENT_TYPES: dict[Encoding, str] = {
    "json": "application/json",
    "msgpack": "application/msgpack",
}

_UNSAFE_TOKEN = re.compile(r"[^A-Za-z0-9_\-:@+=]")
_UNSAFE_TYPE = re.compile(r"[^A-Za-z0-9_\-:@+=.]")


class WireError(Exception):
    """A message is not a relayed lamina event (missing header, unknown encoding, bad body)."""


def is_jetstream_header(name: str) -> bool:
    """True for JetStream's publish headers (``Nats-Msg-Id``, ``Nats-Expected-…``), which
    steer the publish that carried them and must not be copied into another one."""
    return name.lower().startswith("nats-")


def subject_for(prefix: str, record: StoredEvent) -> str:
    """The subject ``record`` is published on: ``<prefix>.<event type>.<stream id>``."""
    return f"{prefix}.{type_tokens(record.event_type)}.{token(record.stream_id)}"


def token(text: str) -> str:
    """``text`` as one subject token (unsafe characters, dots included, become ``_``)."""
    return _UNSAFE_TOKEN.sub("_", text) or "_"


def type_tokens(event_type: str) -> str:
    """``event_type`` as subject tokens: its dots kept, other unsafe characters ``_``."""
    return _UNSAFE_TYPE.sub("_", event_type).strip(".").replace("..", "._.") or "_"


def headers_for(record: StoredEvent, encoding: Encoding) -> dict[str, str]:
    """The headers of ``record``'s message (``Nats-Msg-Id`` is its event id)."""
    return {
        MSG_ID: str(record.event_id),
        POSITION: str(record.position),
        EVENT_ID: str(record.event_id),
        EVENT_TYPE: record.event_type,
        SCHEMA_VERSION: str(record.schema_version),
        STREAM_ID: record.stream_id,
        CORRELATION_ID: record.context.correlation_id,
        PRIORITY: str(int(record.priority)),
        CONTENT_TYPE: CONTENT_TYPES[encoding],
    }


def encode(record: StoredEvent, encoding: Encoding) -> bytes:
    """The body of ``record``'s message."""
    return record.to_msgpack() if encoding == "msgpack" else record.to_json()


def decode(body: bytes, headers: dict[str, str] | None) -> StoredEvent:
    """The record of a relayed message, whichever encoding its ``Content-Type`` names."""
    content_type = (headers or {}).get(CONTENT_TYPE, CONTENT_TYPES["json"])
    try:
        if content_type == CONTENT_TYPES["msgpack"]:
            return StoredEvent.from_msgpack(body)
        if content_type == CONTENT_TYPES["json"]:
            return StoredEvent.from_json(body)
    except ValueError as error:
        raise WireError(f"the body is not a lamina event record: {error}") from error
    raise WireError(f"unknown content type {content_type!r}")


def position_of(headers: dict[str, str] | None) -> int:
    """The ``Lamina-Position`` header of a relayed message."""
    value = (headers or {}).get(POSITION)
    if value is None or not value.isdigit():
        raise WireError(f"the message has no valid {POSITION} header")
    return int(value)
