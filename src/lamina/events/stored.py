"""A recorded event as read back from the event store, and its JSON / MessagePack forms."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgpack
from pydantic import BaseModel, ConfigDict

from lamina.domain.context import EventContext
from lamina.domain.events import DomainEvent, EventPriority
from lamina.events.registry import EventRegistry, default_registry


class StoredEvent(BaseModel):
    """One event of the log: where it is, what it is, who caused it.

    ``position`` is global and increasing (gaps are possible: a rolled back
    append leaves one); ``stream_version`` counts the events of
    ``stream_id`` from 1 without gaps. ``payload`` is the data as it was
    written, in schema version ``schema_version``; :meth:`decode` returns the
    event object, upcast to the current schema.
    """

    model_config = ConfigDict(frozen=True)

    position: int
    event_id: UUID
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    payload: dict[str, Any]
    context: EventContext
    priority: EventPriority
    recorded_at: datetime

    def decode(self, registry: EventRegistry | None = None) -> DomainEvent:
        """The event object (its class found by type name in ``registry``, default: all)."""
        found = registry if registry is not None else default_registry
        return found.decode(self.event_type, self.schema_version, self.payload)

    def to_json(self) -> bytes:
        """The whole record as UTF-8 JSON."""
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> StoredEvent:
        """The record :meth:`to_json` produced."""
        return cls.model_validate_json(data)

    def to_msgpack(self) -> bytes:
        """The whole record as MessagePack (the JSON data model, in a compact binary form)."""
        packed: bytes = msgpack.packb(self.model_dump(mode="json"), use_bin_type=True)
        return packed

    @classmethod
    def from_msgpack(cls, data: bytes) -> StoredEvent:
        """The record :meth:`to_msgpack` produced."""
        return cls.model_validate(msgpack.unpackb(data, raw=False))
