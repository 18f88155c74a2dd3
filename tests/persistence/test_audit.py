"""G4: every write through a repository, single or bulk, leaves one audit entry per row changed,
with actor, correlation id and old → new values; sensitive values masked."""

from __future__ import annotations

import json
from decimal import Decimal

from persistence_models import Counter, Counters, Price, Products, new_product
from sqlalchemy import select

from lamina.domain import MASK, use_context, uuid7
from lamina.persistence import AuditAction, Database
from lamina.persistence.inserts import AUDIT_SLICE
from lamina.persistence.tables import audit_log

SECRET_VALUE = "hunter2-do-not-log"


async def _raw_audit_text(db: Database) -> str:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(audit_log.c.changes))).scalars().all()
    return json.dumps(rows)


async def test_g4_single_writes_record_actor_correlation_and_old_and_new_values(
    db: Database,
) -> None:
    products = Products(db)
    creator, editor = uuid7(), uuid7()
    with use_context(actor_id=creator, correlation_id="req-create"):
        stored = await products.add(new_product("A-1", rating=2))
    with use_context(actor_id=editor, correlation_id="req-edit"):
        updated = await products.update(
            stored.id,
            {"rating": 5, "price": Price(amount=Decimal("1.50"), currency="EUR")},
            expected_version=1,
        )
        await products.delete(stored.id)
        await products.restore(stored.id)
        await products.hard_delete(stored.id)

    assert (updated.created_by_id, updated.updated_by_id) == (creator, editor)
    history = await products.history(stored.id)
    assert [e.action for e in history] == [
        AuditAction.CREATE,
        AuditAction.UPDATE,
        AuditAction.DELETE,
        AuditAction.RESTORE,
        AuditAction.HARD_DELETE,
    ]
    assert [(e.actor_id, e.correlation_id) for e in history] == [
        (creator, "req-create"),
        *[(editor, "req-edit")] * 4,
    ]
    assert all(e.entity_type == "Product" and e.entity_id == str(stored.id) for e in history)
    assert [e.occurred_at for e in history] == sorted(e.occurred_at for e in history)
    create, update, delete, restore, hard_delete = history
    assert create.changes["sku"] == (None, "A-1")
    assert create.changes["rating"] == (None, 2)
    assert update.changes == {
        "rating": (2, 5),
        "price": ({"amount": "9.99", "currency": "EUR"}, {"amount": "1.50", "currency": "EUR"}),
    }
    old_deleted, new_deleted = delete.changes["deleted_at"]
    assert old_deleted is None
    assert new_deleted is not None
    assert restore.changes["deleted_at"] == (new_deleted, None)
    assert hard_delete.changes["sku"] == ("A-1", None)
    assert hard_delete.changes["rating"] == (5, None)


async def test_g4_server_bookkeeping_is_not_reported_as_a_change(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    await products.update(stored.id, {"name": "Other"})
    update = (await products.history(stored.id))[-1]
    assert update.changes == {"name": ("Product SKU-1", "Other")}


async def test_g4_bulk_writes_leave_one_entry_per_row(db: Database) -> None:
    products = Products(db)
    actor = uuid7()
    with use_context(actor_id=actor, correlation_id="req-bulk"):
        few = await products.add_many([new_product(f"F{i}", rating=i) for i in range(4)])
        # enough rows for PostgreSQL's COPY path and several multi-row statements on SQLite
        many = await products.add_many([new_product(f"M{i:03}") for i in range(250)])
    for product in [*few, *many]:
        (entry,) = await products.history(product.id)
        assert entry.action == AuditAction.CREATE
        assert (entry.actor_id, entry.correlation_id) == (actor, "req-bulk")
        assert entry.changes["sku"] == (None, product.sku)
    assert db.stats.audit_entries == 254


async def test_g4_a_bulk_insert_of_several_audit_slices_audits_every_row(db: Database) -> None:
    # Past AUDIT_SLICE rows, audit entries are built slice by slice while the rows are written.
    products = Products(db)
    count = AUDIT_SLICE * 2 + 7
    actor = uuid7()
    with use_context(actor_id=actor, correlation_id="req-large"):
        stored = await products.add_many([new_product(f"L{i:05}") for i in range(count)])
    assert await products.count() == count
    query = select(audit_log.c.entity_id, audit_log.c.actor_id, audit_log.c.correlation_id)
    async with db.engine.connect() as conn:
        entries = (await conn.execute(query)).all()
    assert sorted(entry.entity_id for entry in entries) == sorted(str(p.id) for p in stored)
    assert {(entry.actor_id, entry.correlation_id) for entry in entries} == {(actor, "req-large")}
    for product in (stored[0], stored[AUDIT_SLICE], stored[-1]):
        (entry,) = await products.history(product.id)
        assert entry.changes["sku"] == (None, product.sku)


async def test_g4_writes_in_one_unit_of_work_share_its_correlation_id(db: Database) -> None:
    actor = uuid7()
    with use_context(actor_id=actor, correlation_id="req-uow"):
        async with db.unit_of_work() as uow:
            counters = Counters(uow)
            counter = await counters.add(Counter(name="c"))
            await counters.update(counter.id, {"value": 1})
            await counters.update(counter.id, {"value": 2})
    history = await Counters(db).history(counter.id)
    assert [e.changes.get("value") for e in history] == [(None, 0), (0, 1), (1, 2)]
    assert {(e.actor_id, e.correlation_id) for e in history} == {(actor, "req-uow")}


async def test_g4_an_upsert_that_updates_is_audited_as_an_update(db: Database) -> None:
    products = Products(db)
    stored = await products.upsert(new_product("UP", rating=1), on=["sku"])
    await products.upsert(new_product("UP", rating=3), on=["sku"])
    history = await products.history(stored.id)
    assert [e.action for e in history] == ["create", "update"]
    assert history[1].changes == {"rating": (1, 3)}


async def test_g4_sensitive_values_are_masked(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product(secret=SECRET_VALUE))
    await products.update(stored.id, {"secret": SECRET_VALUE + "-v2"})
    await products.update(stored.id, {"secret": None, "rating": 1})
    await products.hard_delete(stored.id)

    create, change, clear, hard_delete = await products.history(stored.id)
    assert create.changes["secret"] == (None, MASK)
    assert change.changes == {"secret": (MASK, MASK)}  # the change is recorded, not the values
    assert clear.changes == {"secret": (MASK, MASK), "rating": (None, 1)}
    assert hard_delete.changes["secret"] == (MASK, None)
    assert SECRET_VALUE not in await _raw_audit_text(db)


async def test_g4_history_of_an_unknown_entity_is_empty(db: Database) -> None:
    assert await Products(db).history(uuid7()) == []
