"""The JSON Schema document of relayed events, generated from the registered event classes.

One document describes a message body (JSON, or the same data model in
MessagePack): the envelope every event shares (:class:`~lamina.events.StoredEvent`)
and, chosen by ``event_type``, the payload of each known type at its current
schema version. The subject and header layout (see :mod:`lamina.events.wire`)
is documented in the ``x-lamina-*`` keywords, so a consumer in another
language needs only this document.
"""

from __future__ import annotations

from typing import Any

from lamina.events import wire
from lamina.events.registry import EventRegistry, default_registry
from lamina.events.stored import StoredEvent

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REF = "#/$defs/{model}"

HEADERS = {
    wire.MSG_ID: "The event id: JetStream drops a message whose id it has seen (deduplication).",
    wire.EXPECTED_LAST_SEQUENCE: (
        "The stream sequence the relay published the message behind (JetStream stored it"
        " only there, so the stream has no holes). Drop Nats-* headers when publishing again."
    ),
    wire.EXPECTED_LAST_MSG_ID: (
        "The Nats-Msg-Id of the message the relay published this one behind, unless it was"
        " first in its batch. Drop Nats-* headers when publishing again."
    ),
    wire.POSITION: "The event's global position in the log (increasing, gaps possible).",
    wire.EVENT_ID: "The event id (a UUID), stable across re-publishing.",
    wire.EVENT_TYPE: "The event type name, e.g. message.posted.",
    wire.SCHEMA_VERSION: "The payload's schema version (an integer from 1).",
    wire.STREAM_ID: "The stream (aggregate) the event belongs to.",
    wire.CORRELATION_ID: "The id tying together everything one request caused.",
    wire.PRIORITY: "0 low, 1 normal, 2 high, 3 critical.",
    wire.CONTENT_TYPE: "application/json or application/msgpack: the body's encoding.",
}


def _lift(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    defs.update(schema.pop("$defs", {}))
    return schema


def event_schema(registry: EventRegistry | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of relayed message bodies, for the event types of
    ``registry`` (default: every imported event class)."""
    found = registry if registry is not None else default_registry
    defs: dict[str, Any] = {}
    envelope = _lift(StoredEvent.model_json_schema(ref_template=_REF), defs)
    variants: list[dict[str, Any]] = []
    types: dict[str, Any] = {}
    for name, event_class in found.event_classes().items():
        payload = _lift(event_class.model_json_schema(ref_template=_REF), defs)
        key = f"event:{name}"
        defs[key] = payload
        types[name] = {
            "schema_version": event_class.schema_version,
            "stream_field": event_class.stream_field,
            "default_priority": int(event_class.default_priority),
        }
        variants.append(
            {
                "if": {"properties": {"event_type": {"const": name}}, "required": ["event_type"]},
                "then": {
                    "properties": {
                        "schema_version": {"const": event_class.schema_version},
                        "payload": {"$ref": f"#/$defs/{key}"},
                    }
                },
            }
        )
    return {
        **envelope,
        "$schema": DIALECT,
        "$id": "urn:lamina:relayed-event",
        "title": "lamina relayed event",
        "description": (
            "The body of a message the lamina relay publishes to NATS JetStream: one stored "
            "event, as UTF-8 JSON (Content-Type application/json) or the same data model as "
            "MessagePack (application/msgpack). Subject: <prefix>.<event type>.<stream id>. "
            "The payload of an older schema_version than listed here predates the current "
            "class; newer consumers upcast it."
        ),
        "x-lamina-subject": "<prefix>.<event type>.<stream id>",
        "x-lamina-headers": HEADERS,
        "x-lamina-event-types": types,
        "allOf": variants,
        "$defs": defs,
    }
