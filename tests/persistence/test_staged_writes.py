"""A standalone write is its own transaction: on SQLite its statements travel with its
commit, the fewest hops.

On SQLite a write transaction holds the whole database from its first hop
(``BEGIN IMMEDIATE``), so a standalone INSERT, or the UPDATE of a row read (its
version checked) in the transaction, is staged and sent with the commit.
Counted with ``count_queries().round_trips``: a hop to an SQLite connection's
thread, a round trip to PostgreSQL. A staged write that breaks a rule still
raises the typed error naming its fields from the call, and nothing is written.
Inside a unit of work each write is sent at once, on both databases: a broken
rule raises at the call that broke it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from persistence_models import (
    Categories,
    Category,
    Gadget,
    Gadgets,
    Price,
    Products,
    new_product,
)

from lamina.domain import (
    AlreadyExists,
    ConstraintViolated,
    InvalidInput,
    ReferenceMissing,
    VersionConflict,
    uuid7,
)
from lamina.persistence import Database, count_queries

pytestmark = pytest.mark.asyncio


async def test_a_standalone_insert_is_one_hop_with_its_audit_entry(db: Database) -> None:
    categories = Categories(db)
    with count_queries() as tally:
        stored = await categories.add(Category(name="tools"))
    assert tally.round_trips == 1  # SQLite: BEGIN IMMEDIATE, INSERT, audit entry, COMMIT
    assert [e.action for e in await categories.history(stored.id)] == ["create"]


async def test_g2_a_standalone_update_delete_and_restore_of_plain_fields_are_one_hop(
    db: Database,
) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    with count_queries() as update:
        updated = await products.update(stored.id, {"name": "renamed"}, expected_version=1)
    with count_queries() as delete:
        await products.delete(stored.id, expected_version=2)
    with count_queries() as restore:
        restored = await products.restore(stored.id, expected_version=3)

    # SQLite: BEGIN IMMEDIATE, the audit entry's INSERT (reading the old values), the
    # UPDATE and COMMIT in one hop; PostgreSQL: one statement.
    assert (update.round_trips, delete.round_trips, restore.round_trips) == (1, 1, 1)
    assert updated.version == 2
    assert restored.version == 4
    assert await products.get(stored.id) == restored
    history = await products.history(stored.id)
    assert [e.action for e in history] == ["create", "update", "delete", "restore"]
    assert history[1].changes == {"name": ("Product SKU-1", "renamed")}


async def test_each_standalone_write_counts_one_transaction_and_its_audit_entry(
    db: Database,
) -> None:
    products = Products(db)
    transactions, entries = db.stats.transactions, db.stats.audit_entries
    stored = await products.add(new_product())
    await products.update(stored.id, {"name": "renamed"}, expected_version=1)
    await products.delete(stored.id, expected_version=2)
    assert db.stats.transactions == transactions + 3
    assert db.stats.audit_entries == entries + 3
    assert len(await products.history(stored.id)) == 3
    other = await products.add(new_product("SKU-2"))
    with pytest.raises(VersionConflict):  # a stale change writes no entry, and counts none
        await products.update(other.id, {"name": "stale"}, expected_version=7)
    assert db.stats.audit_entries == entries + 4


async def _held_in_thread(
    db: Database, statement: str, seconds: float
) -> tuple[asyncio.Event, Any]:
    """Make the connection the next call takes hold its thread for ``seconds`` when it first
    starts a statement containing ``statement``; the event is set then."""
    loop = asyncio.get_running_loop()
    reached = asyncio.Event()

    def hold(sql: str) -> None:  # runs in the connection's thread
        if statement in sql and not reached.is_set():
            loop.call_soon_threadsafe(reached.set)
            time.sleep(seconds)

    async with db.connection() as conn:  # the connection the change takes next
        conn.raw.set_trace_callback(hold)
    return reached, conn


async def test_g3_a_standalone_update_cancelled_while_its_hop_runs_leaves_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's one-hop change runs in the connection's thread")
    monkeypatch.setattr(db._pool, "inline_budget", 0)  # not on the caller's thread
    products = Products(db)
    stored = await products.add(new_product())
    # the hop is still running when the cancellation comes
    auditing, _ = await _held_in_thread(db, "INSERT INTO lamina_audit_log", 0.2)
    task = asyncio.create_task(products.update(stored.id, {"name": "x"}, expected_version=1))
    await asyncio.wait_for(auditing.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db.connection() as conn:
        conn.raw.set_trace_callback(None)
    assert await products.get(stored.id) == stored  # rolled back, not committed after all
    assert len(await products.history(stored.id)) == 1
    updated = await products.update(stored.id, {"name": "y"}, expected_version=1)
    assert updated.version == 2  # the write lock and the connection were given back


async def test_g3_a_standalone_update_cancelled_twice_before_its_begin_leaves_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second cancellation while the first waits for the connection's thread: the
    connection (its state unknown) is closed after the hop, not lent out in a transaction."""
    if db.dialect_name != "sqlite":
        pytest.skip("SQLite's one-hop change runs in the connection's thread")
    monkeypatch.setattr(db._pool, "inline_budget", 0)  # not on the caller's thread
    products = Products(db)
    stored = await products.add(new_product())
    # BEGIN has not run yet when both cancellations come
    beginning, traced = await _held_in_thread(db, "BEGIN IMMEDIATE", 0.3)
    task = asyncio.create_task(products.update(stored.id, {"name": "x"}, expected_version=1))
    await asyncio.wait_for(beginning.wait(), 5)
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()  # while the first cancellation waits for the hop to end
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.4)  # the hop ends in the thread, and the connection is closed
    assert traced.is_closed()
    assert await products.get(stored.id) == stored  # nothing committed
    assert len(await products.history(stored.id)) == 1
    updated = await asyncio.wait_for(
        products.update(stored.id, {"name": "y"}, expected_version=1), 5
    )
    assert updated.version == 2  # the write lock was given back, no transaction left open


async def test_g2_a_standalone_update_that_needs_the_row_is_two_hops(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    with count_queries() as tally:
        updated = await products.update(
            stored.id, {"price": Price(amount=Decimal("5.00"), currency="EUR")}, expected_version=1
        )
    # SQLite: BEGIN IMMEDIATE and the read; the UPDATE, audit entry and COMMIT.
    assert tally.round_trips == 2
    assert updated.version == 2
    assert await products.get(stored.id) == updated
    entry = (await products.history(stored.id))[-1]
    assert entry.changes == {
        "price": ({"amount": "9.99", "currency": "EUR"}, {"amount": "5.00", "currency": "EUR"})
    }


async def test_g2_a_stale_version_writes_nothing(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    with count_queries() as tally, pytest.raises(VersionConflict):
        await products.update(stored.id, {"name": "renamed"}, expected_version=7)
    if db.dialect_name == "sqlite":
        assert tally.round_trips == 2  # the change, which matches no row; a read to say why
    assert await products.get(stored.id) == stored
    assert len(await products.history(stored.id)) == 1


async def test_in_a_unit_of_work_a_broken_rule_raises_at_the_call_on_both_databases(
    db: Database,
) -> None:
    await Products(db).add(new_product("SKU-TAKEN"))
    raised_at: list[str] = []

    async def use_case() -> None:
        async with db.unit_of_work() as uow:
            products = Products(uow)
            fresh = await products.add(new_product("SKU-1"))
            try:
                await products.add(new_product("SKU-TAKEN"))
            except AlreadyExists:
                raised_at.append("add")
                raise
            await products.update(fresh.id, {"name": "never"}, expected_version=1)

    with pytest.raises(AlreadyExists):
        await use_case()
    assert raised_at == ["add"]  # a use case can answer for it (e.g. as its own Conflict)
    assert await Products(db).count() == 1


@pytest.mark.parametrize(
    ("changes", "error", "fields"),
    [
        ({"sku": "SKU-TAKEN"}, AlreadyExists, ("sku",)),
        ({"rating": 9}, ConstraintViolated, ("rating",)),
        ({"category_id": uuid7()}, ReferenceMissing, ("category_id",)),
    ],
)
async def test_g3_a_standalone_update_breaking_a_rule_raises_its_typed_error_and_writes_nothing(
    db: Database, changes: dict[str, object], error: type[Exception], fields: tuple[str, ...]
) -> None:
    products = Products(db)
    await products.add(new_product("SKU-TAKEN"))
    stored = await products.add(new_product("SKU-1"))
    audit_before = db.stats.audit_entries

    with pytest.raises(error) as raised:
        await products.update(stored.id, changes, expected_version=1)

    assert getattr(raised.value, "entity", None) == "Product"
    if isinstance(raised.value, ConstraintViolated):
        assert raised.value.constraint.endswith("rating_range")
        assert tuple(e.field for e in raised.value.errors) == fields
    else:
        assert getattr(raised.value, "fields", None) == fields
    assert await products.get(stored.id) == stored
    assert len(await products.history(stored.id)) == 1
    assert db.stats.audit_entries == audit_before


async def test_g3_an_insert_breaking_a_rule_in_a_unit_raises_already_exists_and_writes_nothing(
    db: Database,
) -> None:
    await Products(db).add(new_product("SKU-TAKEN"))
    fresh = new_product("SKU-NEW")
    twin = new_product("SKU-TAKEN")

    async def both() -> None:
        async with db.unit_of_work() as uow:
            await Products(uow).add(fresh)
            await Products(uow).add(twin)

    with pytest.raises(AlreadyExists) as raised:
        await both()
    assert raised.value.fields == ("sku",)
    products = Products(db)
    assert await products.get_or_none(fresh.id) is None
    assert await products.get_or_none(twin.id) is None
    assert await products.history(fresh.id) == []


async def test_an_update_breaking_a_rule_in_a_unit_names_the_writer_s_fields(
    db: Database,
) -> None:
    await Products(db).add(new_product("SKU-TAKEN"))
    stored = await Products(db).add(new_product("SKU-1"))

    async def update_then_read() -> None:
        async with db.unit_of_work() as uow:
            await Products(uow).update(stored.id, {"sku": "SKU-TAKEN"}, expected_version=1)
            await Categories(uow).list()  # not reached

    with pytest.raises(AlreadyExists) as raised:
        await update_then_read()
    assert raised.value.entity == "Product"
    assert raised.value.fields == ("sku",)
    assert await Products(db).get(stored.id) == stored


async def test_g13_a_naive_datetime_is_refused_before_anything_is_staged(db: Database) -> None:
    products = Products(db)
    stored = await products.add(new_product())
    with count_queries() as tally, pytest.raises(InvalidInput):
        await products.update(stored.id, {"released_at": datetime(2026, 1, 1)})
    assert tally.round_trips == 0
    async with db.unit_of_work() as uow:
        with pytest.raises(InvalidInput):
            await Products(uow).update(
                stored.id, {"released_at": datetime(2026, 1, 1)}, expected_version=1
            )
        await Products(uow).update(stored.id, {"name": "fine"}, expected_version=1)
    assert (await products.get(stored.id)).name == "fine"
    assert [e.action for e in await products.history(stored.id)] == ["create", "update"]


async def test_g4_a_one_hop_change_writes_each_kind_of_value_as_the_read_path_does(
    db: Database,
) -> None:
    """The database writes the entry of a standalone change (old values as it holds them);
    the same change inside a unit of work reads the row and builds the entry in Python."""
    kinds = {
        "name": 'n "2" é',
        "count": 7,
        "active": False,
        "owner_id": uuid7(),
        "made_on": date(2024, 2, 29),
        "seen_at": datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC),
        "code": "c2",
    }
    first = {**kinds, "seen_at": datetime(2024, 5, 6, 9, 0, tzinfo=timezone(timedelta(hours=2)))}
    gadgets = Gadgets(db)
    alone = await gadgets.add(Gadget(name="g", count=1, active=True))
    in_unit = await gadgets.add(Gadget(name="g", count=1, active=True))

    with count_queries() as tally:
        changed = await gadgets.update(alone.id, first, expected_version=1)
        await gadgets.update(alone.id, kinds, expected_version=2)
    async with db.unit_of_work() as uow:
        await Gadgets(uow).update(in_unit.id, first, expected_version=1)
        await Gadgets(uow).update(in_unit.id, kinds, expected_version=2)

    assert tally.round_trips == 2  # one each
    assert changed.seen_at == first["seen_at"]
    by_database = [e.changes for e in await gadgets.history(alone.id)][1:]
    by_python = [e.changes for e in await gadgets.history(in_unit.id)][1:]
    assert by_database == by_python
    assert by_database[0]["code"] == ("***", "***")
    assert by_database[1] == {"seen_at": by_python[1]["seen_at"]}
