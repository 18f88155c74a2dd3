"""Erasure of personal data: ``Repository.erase`` deletes the row, keeps who did what and when in
the audit trail but no values, and publishes ``EntityErased`` (in one unit of work)."""

from __future__ import annotations

import json

import pytest
from persistence_models import Products, Review, Reviews, new_product
from sqlalchemy import select

from lamina.domain import MASK, Conflict, NotFound, VersionConflict, use_context, uuid7
from lamina.events import EventStore
from lamina.persistence import AuditAction, Database
from lamina.persistence.tables import audit_log

NAME = "Ada Lovelace"
SECRET = "ada-secret-4417"


async def _raw_audit_text(db: Database) -> str:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(audit_log.c.changes))).scalars().all()
    return json.dumps(rows)


async def test_erase_removes_the_row_and_every_value_of_its_history(db: Database) -> None:
    products = Products(db)
    creator, eraser = uuid7(), uuid7()
    with use_context(actor_id=creator, correlation_id="req-create"):
        stored = await products.add(new_product("P-1", name=NAME, secret=SECRET))
        await products.update(stored.id, {"name": f"{NAME} (2)"}, expected_version=1)
    kept = await products.add(new_product("P-2", name="Grace Hopper"))

    with use_context(actor_id=eraser, correlation_id="req-erase"):
        await products.erase(stored.id, expected_version=2)

    assert await products.get_or_none(stored.id, include_deleted=True) is None
    history = await products.history(stored.id)
    assert [e.action for e in history] == [
        AuditAction.CREATE,
        AuditAction.UPDATE,
        AuditAction.ERASE,
    ]
    assert [e.actor_id for e in history] == [creator, creator, eraser]
    assert [e.correlation_id for e in history] == ["req-create", "req-create", "req-erase"]
    assert "name" in history[0].changes
    assert "name" in history[1].changes
    assert {value for e in history for pair in e.changes.values() for value in pair} == {MASK}
    raw = await _raw_audit_text(db)
    assert NAME not in raw
    assert SECRET not in raw
    assert "Grace Hopper" in raw  # other entities' entries are untouched
    assert (await products.get(kept.id)).name == "Grace Hopper"
    events = [e for e in await EventStore(db).read() if e.event_type == "lamina.entity_erased"]
    assert [(e.payload, e.context.actor_id) for e in events] == [
        ({"entity_type": "Product", "entity_id": str(stored.id)}, eraser)
    ]


async def test_erase_in_the_unit_that_wrote_the_values_redacts_them_too(db: Database) -> None:
    async with db.unit_of_work() as uow:
        products = Products(uow)
        stored = await products.add(new_product("P-1", name=NAME))
        await products.erase(stored.id)

    assert NAME not in await _raw_audit_text(db)
    actions = [e.action for e in await Products(db).history(stored.id)]
    assert actions == [AuditAction.CREATE, AuditAction.ERASE]


async def test_erase_takes_soft_deleted_rows_too(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product("P-1", name=NAME))
    await products.delete(stored.id)

    await products.erase(stored.id)

    assert await products.get_or_none(stored.id, include_deleted=True) is None
    assert NAME not in await _raw_audit_text(db)


async def test_erase_refused_changes_nothing(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product("P-1", name=NAME))
    await Reviews(db).add(Review(product_id=stored.id, author="bob", rating=4))
    other = await products.add(new_product("P-2", name="Other"))

    with pytest.raises(VersionConflict):
        await products.erase(other.id, expected_version=7)
    with pytest.raises(Conflict):  # reviews still refer to it
        await products.erase(stored.id)
    with pytest.raises(NotFound):
        await products.erase(uuid7())

    assert (await products.get(stored.id)).name == NAME
    assert NAME in await _raw_audit_text(db)
    assert [e.event_type for e in await EventStore(db).read()] == []
