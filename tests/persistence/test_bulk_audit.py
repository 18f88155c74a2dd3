"""A bulk insert's audit entries are built by the database from the rows it inserted (G4).

They must read exactly as the entries lamina builds itself for a few rows:
same fields, same JSON for every kind of value, sensitive values masked, ids
that sort after everything made before and before everything made after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from persistence_models import Gadget, Gadgets

from lamina.domain import AlreadyExists, use_context, uuid7
from lamina.persistence import Database, count_queries
from lamina.persistence.connection import COPY_THRESHOLD

pytestmark = pytest.mark.asyncio

OWNER = uuid7()


def _gadget(i: int) -> Gadget:
    kinds: list[dict[str, Any]] = [
        {},
        {"owner_id": OWNER, "made_on": date(2024, 2, 29), "code": "c-1"},
        {"seen_at": datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC)},
        {"seen_at": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), "active": False},
    ]
    return Gadget(**{"name": f'g "{i}" é', "count": i, "active": True, **kinds[i % 4]})


async def test_g4_a_bulk_insert_has_the_entries_lamina_writes_for_a_few_rows(
    db: Database,
) -> None:
    gadgets = Gadgets(db)
    count = COPY_THRESHOLD + 4
    audit_before = db.stats.audit_entries
    with use_context(actor_id=OWNER, correlation_id="bulk"):
        few = await gadgets.add_many([_gadget(i) for i in range(4)])  # built in Python
        with count_queries() as tally:
            many = await gadgets.add_many([_gadget(i) for i in range(count)])

    assert tally.queries <= 4  # rows, entries, commit (and BEGIN where sent alone)
    for i, stored in enumerate(many):
        (entry,) = await gadgets.history(stored.id)
        (twin,) = await gadgets.history(few[i % 4].id)
        assert entry.changes == {**twin.changes, "name": (None, stored.name), "count": (None, i)}
        assert (entry.action, entry.actor_id, entry.correlation_id) == ("create", OWNER, "bulk")
        assert entry.entity_id == str(stored.id)
        assert entry.occurred_at == stored.created_at
    first = (await gadgets.history(few[1].id))[0].changes
    assert first["owner_id"] == (None, str(OWNER))
    assert first["code"] == (None, "***")
    assert first["made_on"] == (None, "2024-02-29")
    assert (await gadgets.history(many[2].id))[0].changes["seen_at"] == (
        None,
        "2024-05-06T07:08:09.120000Z",
    )
    assert (await gadgets.history(many[3].id))[0].changes["active"] == (None, False)
    assert db.stats.audit_entries == audit_before + 4 + count


async def test_g4_bulk_entries_sort_between_what_came_before_and_after(db: Database) -> None:
    gadgets = Gadgets(db)
    (early,) = await gadgets.add_many([_gadget(0)])
    many = await gadgets.add_many([_gadget(i) for i in range(COPY_THRESHOLD)])
    await gadgets.update(many[0].id, {"count": 99}, expected_version=1)

    early_entry = (await gadgets.history(early.id))[0]
    created, updated = await gadgets.history(many[0].id)
    bulk_ids = [(await gadgets.history(g.id))[0].id for g in many]
    assert early_entry.id < min(bulk_ids)
    assert len(set(bulk_ids)) == len(many)
    assert max(bulk_ids) < updated.id
    assert (created.action, updated.action) == ("create", "update")
    assert updated.changes == {"count": (0, 99)}


async def test_g3_a_bulk_insert_that_fails_leaves_no_rows_and_no_entries(db: Database) -> None:
    gadgets = Gadgets(db)
    batch = [_gadget(i) for i in range(COPY_THRESHOLD)]
    await gadgets.add(batch[-1])

    async def use_case() -> None:
        async with db.unit_of_work() as uow:
            await Gadgets(uow).add_many(batch)

    with pytest.raises(AlreadyExists):
        await use_case()

    assert await gadgets.count() == 1
    assert await gadgets.history(batch[0].id) == []
