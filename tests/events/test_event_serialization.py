"""Event serialization (JSON, MessagePack), the type registry, upcasters and work order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from events_testkit import Alarm, Deposited, NoteWritten, Tick
from pydantic import ValidationError

from lamina.domain import DomainEvent, EventContext, EventPriority, uuid7
from lamina.events import (
    EventDecodeError,
    EventRegistry,
    StoredEvent,
    Subscription,
    default_registry,
    work_order,
)


class ProfileRenamed(DomainEvent, type="test.profile_renamed", version=3, stream="user_id"):
    user_id: UUID
    first_name: str
    last_name: str
    reason: str


def stored(event: DomainEvent, position: int = 1, *, version: int | None = None,
           payload: dict[str, Any] | None = None,
           priority: EventPriority | None = None) -> StoredEvent:  # fmt: skip
    return StoredEvent(
        position=position,
        event_id=uuid7(),
        stream_id=event.stream_id,
        stream_version=1,
        event_type=type(event).event_type,
        schema_version=version or type(event).schema_version,
        payload=payload if payload is not None else event.payload(),
        context=EventContext(actor_id=uuid7(), correlation_id="req-1"),
        priority=priority if priority is not None else type(event).default_priority,
        recorded_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    )


def test_domain_event_round_trips_through_json_and_msgpack() -> None:
    event = NoteWritten(note_id=uuid7(), title="hello ✓")
    assert NoteWritten.from_json(event.to_json()) == event
    assert NoteWritten.from_msgpack(event.to_msgpack()) == event
    assert len(event.to_msgpack()) < len(event.to_json())


def test_domain_events_are_immutable_and_strict() -> None:
    event = Deposited(account="a", amount=3)
    with pytest.raises(ValidationError):
        event.amount = 4  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Deposited.from_json(b'{"account": "a", "amount": 3, "extra": 1}')


def test_stored_event_round_trips_through_json_and_msgpack() -> None:
    record = stored(Tick(channel="c", n=7))
    assert StoredEvent.from_json(record.to_json()) == record
    assert StoredEvent.from_msgpack(record.to_msgpack()) == record
    assert StoredEvent.from_msgpack(record.to_msgpack()).recorded_at.tzinfo is not None


def test_decode_finds_the_class_by_type_name() -> None:
    event = NoteWritten(note_id=uuid7(), title="x")
    assert stored(event).decode() == event


def test_upcasters_bring_old_payloads_to_the_current_version() -> None:
    registry = EventRegistry()
    registry.register(ProfileRenamed)

    @registry.upcaster("test.profile_renamed", from_version=1)
    def split_name(payload: dict[str, Any]) -> dict[str, Any]:
        first, _, last = payload.pop("name").partition(" ")
        return {**payload, "first_name": first, "last_name": last}

    @registry.upcaster(ProfileRenamed, from_version=2)
    def add_reason(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "reason": "unknown"}

    user_id = uuid7()
    v1 = {"user_id": str(user_id), "name": "Ada Lovelace"}
    event = registry.decode("test.profile_renamed", 1, v1)
    assert event == ProfileRenamed(
        user_id=user_id, first_name="Ada", last_name="Lovelace", reason="unknown"
    )
    v2 = {"user_id": str(user_id), "first_name": "A", "last_name": "L"}
    assert registry.decode("test.profile_renamed", 2, v2).reason == "unknown"  # type: ignore[attr-defined]


def test_a_missing_upcaster_or_a_newer_version_is_an_error() -> None:
    registry = EventRegistry()
    registry.register(ProfileRenamed)
    with pytest.raises(EventDecodeError, match="no upcaster from schema version 1"):
        registry.decode("test.profile_renamed", 1, {"user_id": str(uuid7()), "name": "A B"})
    with pytest.raises(EventDecodeError, match="newer than this code"):
        registry.decode("test.profile_renamed", 4, {})
    with pytest.raises(EventDecodeError, match="no event class"):
        registry.decode("test.unknown", 1, {})
    with pytest.raises(EventDecodeError, match="does not fit"):
        default_registry.decode("test.deposited", 1, {"account": "a"})


def test_two_classes_cannot_claim_one_type_name() -> None:
    registry = EventRegistry()
    registry.register(Deposited)

    class Impostor(DomainEvent, type="test.deposited.other"):
        pass

    Impostor.event_type = "test.deposited"
    with pytest.raises(ValueError, match="declared by both"):
        registry.register(Impostor)


def test_a_subscription_takes_one_handler_per_type() -> None:
    subscription = Subscription("s")

    @subscription.handles(Deposited, Tick)
    async def first(event: DomainEvent, record: StoredEvent) -> None: ...

    assert subscription.event_types == {"test.deposited", "test.tick"}
    with pytest.raises(ValueError, match="already has a handler"):
        subscription.handles(Deposited)(first)


def test_work_order_puts_urgent_streams_first_and_keeps_stream_order() -> None:
    subscription = Subscription("ordered")

    @subscription.handles(Deposited, Alarm)
    async def handle(event: DomainEvent, record: StoredEvent) -> None: ...

    batch = [
        stored(Deposited(account="a", amount=1), 1),
        stored(Deposited(account="b", amount=1), 2),
        stored(Tick(channel="ignored", n=1), 3),
        stored(Alarm(room="r"), 4),
        stored(Deposited(account="b", amount=2), 5, priority=EventPriority.HIGH),
        stored(Deposited(account="a", amount=2), 6),
    ]
    order = [record.position for record in work_order(batch, subscription)]
    # room r (critical) first; then stream b, whose waiting work includes a HIGH event,
    # in log order (2 before 5); then stream a. The Tick has no handler here.
    assert order == [4, 2, 5, 1, 6]
