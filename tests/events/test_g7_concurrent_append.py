"""G7: reading after position P never skips an event that commits later with a smaller position.

On PostgreSQL, positions come from a sequence when rows are inserted, so
concurrent transactions can commit out of position order. A trigger here sleeps
a random few milliseconds after each event insert, inside the transaction: it
holds each writer between taking its positions and committing, which makes
out-of-order commits the rule rather than the exception — unless appends are
serialized, which is what lamina's advisory lock does.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
from events_testkit import Tick
from sqlalchemy import bindparam, insert

from lamina.domain import EventContext, uuid7
from lamina.domain.entity import utcnow
from lamina.events import EventStore
from lamina.persistence import AuditAction, Database, PoolOptions
from lamina.persistence.audit import audit_row
from lamina.persistence.tables import events

pytestmark = pytest.mark.postgres_only

WRITERS = 8
EVENTS_PER_WRITER = 200

STAGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION lamina_test_stagger() RETURNS trigger AS $$
BEGIN
    IF random() < 0.25 THEN
        PERFORM pg_sleep(random() * 0.003);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""
STAGGER_TRIGGER = """
CREATE TRIGGER lamina_test_stagger AFTER INSERT ON lamina_events
    FOR EACH ROW EXECUTE FUNCTION lamina_test_stagger()
"""


@pytest.fixture
async def staggered(db: Database) -> AsyncIterator[Database]:
    """``db`` with a trigger holding every appending transaction open a little after insert."""
    wide = Database(db.url.render_as_string(hide_password=False), pool=PoolOptions(size=12))
    async with wide.connection() as conn:
        await conn.execute(STAGGER_FUNCTION, [])
        await conn.execute(STAGGER_TRIGGER, [])
    yield wide
    await wide.close()


@pytest.mark.parametrize("audited", [False, True], ids=["events only", "with audit entries"])
async def test_g7_tailing_reader_gets_every_event_once_in_order(
    staggered: Database, audited: bool
) -> None:
    """Two writers share each stream; with audit entries, the append lock rides on their INSERT."""
    db = staggered
    store = EventStore(db)
    writers_done = asyncio.Event()
    received: list[int] = []

    async def writer(number: int) -> None:
        rng = random.Random(number)
        n = 0
        while n < EVENTS_PER_WRITER:
            async with db.unit_of_work() as uow:
                if audited:
                    change = {"n": [None, n]}
                    uow.record_audit(
                        audit_row(
                            "Tick", uuid7(), AuditAction.CREATE, change, uow.context, utcnow()
                        )
                    )
                for _ in range(min(rng.randint(1, 8), EVENTS_PER_WRITER - n)):
                    uow.publish(Tick(channel=f"writer-{number % (WRITERS // 2)}", n=n))
                    n += 1
            await asyncio.sleep(rng.random() * 0.002)

    async def tail() -> None:
        position = 0
        while True:
            finished = writers_done.is_set()
            batch = await store.read(after=position, limit=50)
            received.extend(e.position for e in batch)
            if batch:
                position = batch[-1].position
            elif finished:
                return

    reader = asyncio.create_task(tail())
    await asyncio.gather(*(writer(i) for i in range(WRITERS)))
    writers_done.set()
    await reader

    stored = await store.read(limit=10_000)
    everything = [e.position for e in stored]
    assert len(everything) == WRITERS * EVENTS_PER_WRITER
    assert received == everything  # every event, once, in position order: none skipped
    assert received == sorted(set(received))
    for stream in {e.stream_id for e in stored}:
        versions = [e.stream_version for e in stored if e.stream_id == stream]
        assert versions == list(range(1, 2 * EVENTS_PER_WRITER + 1))


async def test_g7_the_reader_check_catches_skips_when_appends_are_not_serialized(
    db: Database,
) -> None:
    """Control: append without lamina's lock and the same tailing read does skip an event."""
    stmt = db.statements.get(
        ("test", "events", "unserialized_insert"),
        lambda: insert(events).values(
            {c.name: bindparam(c.name, type_=c.type) for c in events.c if c.name != "position"}
        ),
    )

    def row(n: int) -> dict[str, object]:
        event = Tick(channel=f"raw-{n}", n=n)
        return {
            "event_id": uuid7(),
            "stream_id": event.stream_id,
            "stream_version": 1,
            "event_type": Tick.event_type,
            "schema_version": 1,
            "payload": event.payload(),
            "context": EventContext().model_dump(mode="json"),
            "priority": 1,
            "recorded_at": utcnow(),
        }

    store = EventStore(db)
    async with db.connection() as slow, db.connection() as fast:
        await slow.begin()
        await stmt.execute(slow, row(1))  # takes the smaller position, commits last
        await fast.begin()
        await stmt.execute(fast, row(2))
        await fast.commit()
        seen = await store.read(after=0)
        await slow.commit()
    later = await store.read(after=seen[-1].position)
    everything = await store.read()
    assert [e.payload["n"] for e in everything] == [1, 2]
    assert [e.payload["n"] for e in seen + later] == [2]  # event 1 was skipped for good
