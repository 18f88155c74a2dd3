"""The event store: atomic append with the unit of work (G3, G9), reads by position and stream."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest
from events_testkit import Deposited, NoteWritten, Tick, Withdrawn, insert_note, note_titles

from lamina.domain import DomainEvent, EventPriority, use_context, uuid7
from lamina.events import EventRunner, EventStore, StoredEvent, Subscription
from lamina.persistence import Database


class Boom(Exception):
    pass


async def test_g9_rolled_back_event_is_never_stored_or_delivered(db: Database) -> None:
    seen: list[int] = []
    subscription = Subscription("g9")

    @subscription.handles(NoteWritten)
    async def record(event: NoteWritten, stored: StoredEvent) -> None:
        seen.append(stored.position)

    async def fail_after_writing() -> None:
        async with db.unit_of_work() as uow:
            await insert_note(uow, uuid7(), "rolled back")
            uow.publish(NoteWritten(note_id=uuid7(), title="rolled back"))
            raise Boom

    async with EventRunner(db, [subscription], poll_interval=0.05):
        with pytest.raises(Boom):
            await fail_after_writing()
        async with db.unit_of_work() as uow:
            uow.publish(Tick(channel="marker", n=1))
        await asyncio.sleep(0.3)
    assert [e.event_type for e in await EventStore(db).read()] == ["test.tick"]
    assert seen == []
    assert await note_titles(db) == []


async def test_g9_failed_commit_stores_no_event(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await insert_note(uow, uuid7(), "taken")

    async def write_duplicate() -> None:
        async with db.unit_of_work() as uow:
            uow.publish(NoteWritten(note_id=uuid7(), title="taken"))
            await insert_note(uow, uuid7(), "taken")

    with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
        await write_duplicate()
    assert await EventStore(db).read() == []


async def test_g3_event_commits_atomically_with_the_row(db: Database) -> None:
    note_id = uuid7()
    with use_context(actor_id=uuid7(), correlation_id="req-42") as ctx:
        async with db.unit_of_work() as uow:
            await insert_note(uow, note_id, "kept")
            uow.publish(NoteWritten(note_id=note_id, title="kept"))
    assert await note_titles(db) == ["kept"]
    [stored] = await EventStore(db).read()
    assert stored.decode() == NoteWritten(note_id=note_id, title="kept")
    assert stored.stream_id == str(note_id)
    assert stored.stream_version == 1
    assert stored.schema_version == 1
    assert stored.priority is EventPriority.NORMAL
    assert stored.context.actor_id == ctx.actor_id
    assert stored.context.correlation_id == "req-42"
    assert stored.recorded_at.tzinfo is not None


async def test_read_after_position_with_limit(db: Database) -> None:
    async with db.unit_of_work() as uow:
        for n in range(7):
            uow.publish(Tick(channel="c", n=n))
    store = EventStore(db)
    first = await store.read(after=0, limit=3)
    assert [e.payload["n"] for e in first] == [0, 1, 2]
    rest = await store.read(after=first[-1].position, limit=100)
    assert [e.payload["n"] for e in rest] == [3, 4, 5, 6]
    assert await store.read(after=rest[-1].position) == []
    assert await store.last_position() == rest[-1].position
    assert await store.get(rest[0].position) == rest[0]
    assert await store.get(10_000) is None
    with pytest.raises(ValueError, match="limit"):
        await store.read(limit=0)


async def test_streams_are_versioned_and_an_aggregate_recovers_from_its_stream(
    db: Database,
) -> None:
    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="alice", amount=100))
        uow.publish(Deposited(account="bob", amount=5))
        uow.publish(Withdrawn(account="alice", amount=30), priority=EventPriority.HIGH)
    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="alice", amount=7))
    store = EventStore(db)
    alice = await store.read_stream("alice")
    assert [e.stream_version for e in alice] == [1, 2, 3]
    assert alice[1].priority is EventPriority.HIGH
    assert [e.stream_version for e in await store.read_stream("alice", after_version=2)] == [3]
    assert [e.stream_version for e in await store.read_stream("bob")] == [1]

    def apply(balance: int, event: DomainEvent) -> int:
        if isinstance(event, Deposited):
            return balance + event.amount
        if isinstance(event, Withdrawn):
            return balance - event.amount
        return balance

    assert await store.fold_stream("alice", 0, apply) == 77
    assert await store.fold_stream("nobody", 0, apply) == 0


async def test_read_inside_a_unit_of_work_sees_its_transaction(db: Database) -> None:
    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=1))
    async with db.unit_of_work() as uow:
        assert [e.stream_version for e in await EventStore(uow).read_stream("a")] == [1]
