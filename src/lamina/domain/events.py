"""Domain events: immutable facts with a stable type name, a schema version and a priority."""

from __future__ import annotations

import enum
import json
from typing import Any, ClassVar, Self, cast

import msgpack
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from lamina.domain.entity import ENCRYPTED, MASK, SENSITIVE


class EventPriority(enum.IntEnum):
    """How urgently waiting work for an event should be handled. Never reorders the log."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3


class DomainEvent(BaseModel):
    """Base of every domain event; the model's fields are its payload.

    Declare the stable type name, schema version, default priority and the
    payload field naming the event's stream as class keywords::

        class RecordingStarted(DomainEvent, type="recording.started",
                               stream="conversation_id", priority=EventPriority.HIGH):
            recording_id: UUID
            conversation_id: UUID

    Events raised in a unit of work are stored when it commits, and never if it
    rolls back (G9). A field marked ``SENSITIVE`` (or ``ENCRYPTED``) is stored,
    streamed and relayed as ``"***"`` (so it must accept a string), unless the
    class is declared with ``carries_sensitive=True`` for consumers that need it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    default_priority: ClassVar[EventPriority] = EventPriority.NORMAL
    stream_field: ClassVar[str | None] = None
    carries_sensitive: ClassVar[bool] = False
    sensitive_fields: ClassVar[frozenset[str]] = frozenset()
    """The fields marked ``SENSITIVE`` or ``ENCRYPTED``: masked in :meth:`payload` unless
    ``carries_sensitive``."""

    def __init_subclass__(
        cls,
        *,
        type: str | None = None,
        version: int | None = None,
        priority: EventPriority | None = None,
        stream: str | None = None,
        carries_sensitive: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if carries_sensitive is not None:
            cls.carries_sensitive = carries_sensitive
        if type is not None:
            cls.event_type = type
        elif "event_type" not in cls.__dict__:
            cls.event_type = cls.__name__
        if version is not None:
            if version < 1:
                raise ValueError("an event schema version starts at 1")
            cls.schema_version = version
        if priority is not None:
            cls.default_priority = priority
        if stream is not None:
            cls.stream_field = stream

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.sensitive_fields = frozenset(
            name
            for name, f in cls.model_fields.items()
            if SENSITIVE in f.metadata or ENCRYPTED in f.metadata
        )
        if cls.carries_sensitive:
            return
        for name in cls.sensitive_fields:
            field = cls.model_fields[name]
            try:
                TypeAdapter[Any](cast(Any, field.annotation)).validate_python(MASK)
            except ValidationError:
                raise TypeError(
                    f"{cls.__name__}.{name} is SENSITIVE, so it is stored as {MASK!r}: type it "
                    "to accept a string, or declare the event with carries_sensitive=True"
                ) from None

    @property
    def stream_id(self) -> str:
        """The stream (usually one aggregate) this event belongs to."""
        field = type(self).stream_field
        if field is None:
            return type(self).event_type
        return str(getattr(self, field))

    def payload(self) -> dict[str, Any]:
        """The payload as JSON-compatible data (sensitive fields masked, see the class)."""
        data = self.model_dump(mode="json")
        if self.sensitive_fields and not self.carries_sensitive:
            for name in self.sensitive_fields:
                data[name] = MASK
        return data

    def to_json(self) -> bytes:
        """The payload as UTF-8 JSON (as :meth:`payload`)."""
        if self.sensitive_fields and not self.carries_sensitive:
            return json.dumps(self.payload(), separators=(",", ":")).encode()
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """The event of this class whose payload :meth:`to_json` produced (validated)."""
        return cls.model_validate_json(data)

    def to_msgpack(self) -> bytes:
        """The payload as MessagePack: the JSON data model in a compact binary form."""
        packed: bytes = msgpack.packb(self.payload(), use_bin_type=True)
        return packed

    @classmethod
    def from_msgpack(cls, data: bytes) -> Self:
        """The event of this class whose payload :meth:`to_msgpack` produced (validated)."""
        return cls.model_validate(msgpack.unpackb(data, raw=False))


class EntityErased(DomainEvent, type="lamina.entity_erased", stream="entity_id"):
    """An entity's personal data was erased (``Repository.erase``): its row is gone and its
    audit entries no longer hold its values. Projections that copied the data remove it."""

    entity_type: str
    entity_id: str
