"""Subscriptions: retries with backoff, dead letters and re-drive, priorities, leases, replay."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from events_testkit import Alarm, Deposited, Tick, Withdrawn, balances, eventually
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from lamina.domain import DomainEvent, EventPriority, use_context
from lamina.events import (
    DeadLetters,
    EventRunner,
    EventStore,
    HandlerRetry,
    StoredEvent,
    Subscription,
    SubscriptionBusy,
)
from lamina.persistence import Database

FAST = HandlerRetry(max_attempts=3, base_delay=0.01, max_delay=0.05)


async def test_g8_handler_failing_three_times_is_retried_with_backoff(db: Database) -> None:
    attempts: list[float] = []
    subscription = Subscription(
        "flaky", retry=HandlerRetry(max_attempts=5, base_delay=0.05, max_delay=1.0)
    )

    @subscription.handles(Deposited)
    async def flaky(event: Deposited, record: StoredEvent) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            raise ConnectionError("mail server down")

    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=1))
    runner = EventRunner(db, [subscription])
    await runner.catch_up("flaky")

    assert len(attempts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    # exponential backoff with jitter in [half, all] of 0.05 * 2 ** (n - 1)
    assert gaps[0] >= 0.025
    assert gaps[1] >= 0.05
    assert gaps[2] >= 0.1
    assert gaps[2] > gaps[0]
    assert (runner.stats.failed, runner.stats.delivered, runner.stats.dead_lettered) == (3, 1, 0)
    assert await DeadLetters(db).find() == []
    assert runner.positions["flaky"] == await EventStore(db).last_position()


async def test_g8_always_failing_event_is_dead_lettered_and_later_events_go_on(
    db: Database,
) -> None:
    handled: list[int] = []
    fixed = False
    subscription = Subscription("ledger", retry=FAST)

    @subscription.handles(Deposited)
    async def book(event: Deposited, record: StoredEvent) -> None:
        if event.amount == 13 and not fixed:
            raise ValueError("unlucky amount")
        handled.append(event.amount)

    async with db.unit_of_work() as uow:
        for amount in (1, 13, 2):
            uow.publish(Deposited(account="a", amount=amount))

    async with EventRunner(db, [subscription], poll_interval=0.02) as runner:
        await eventually(lambda: handled == [1, 2])
        [letter] = await DeadLetters(db).find("ledger")
        assert letter.attempts == 3
        assert letter.event_type == "test.deposited"
        assert "ValueError: unlucky amount" in letter.error
        assert runner.stats.dead_lettered == 1
        assert runner.positions["ledger"] == await EventStore(db).last_position()

        fixed = True
        assert await DeadLetters(db).request_redrive(subscription="ledger") == 1
        await eventually(lambda: handled == [1, 2, 13])
        await eventually(lambda: runner.stats.redriven == 1)
    assert await DeadLetters(db).find("ledger") == []
    [resolved] = await DeadLetters(db).find("ledger", include_resolved=True)
    assert resolved.resolved_at is not None


async def test_failed_redrive_updates_the_dead_letter(db: Database) -> None:
    subscription = Subscription("stubborn", retry=HandlerRetry(max_attempts=2, base_delay=0.01))

    @subscription.handles(Deposited)
    async def refuse(event: Deposited, record: StoredEvent) -> None:
        raise RuntimeError("still broken")

    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=1))
    async with EventRunner(db, [subscription], poll_interval=0.02) as runner:
        await eventually(lambda: runner.stats.dead_lettered == 1)
        [letter] = await DeadLetters(db).find()
        assert await DeadLetters(db).request_redrive([letter.id]) == 1
        await eventually(lambda: runner.stats.dead_lettered == 2)
    [again] = await DeadLetters(db).find()
    assert again.id == letter.id
    assert again.attempts == 4
    assert again.redrive_requested_at is None
    assert again.resolved_at is None


async def test_waiting_work_is_handled_by_priority_within_a_batch(db: Database) -> None:
    order: list[str] = []
    subscription = Subscription("pager")

    @subscription.handles(Deposited, Alarm)
    async def page(event: Deposited | Alarm, record: StoredEvent) -> None:
        order.append(record.stream_id)

    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="low", amount=1), priority=EventPriority.LOW)
        uow.publish(Deposited(account="normal", amount=1))
        uow.publish(Alarm(room="fire"))
    await EventRunner(db, [subscription]).catch_up("pager")
    assert order == ["fire", "normal", "low"]
    positions = [e.stream_id for e in await EventStore(db).read()]
    assert positions == ["low", "normal", "fire"]  # the log keeps its order


async def test_one_runner_at_a_time_holds_a_subscription(db: Database) -> None:
    subscription = Subscription("exclusive")

    @subscription.handles(Tick)
    async def ignore(event: Tick, record: StoredEvent) -> None: ...

    async with EventRunner(db, [subscription], poll_interval=0.02, lease=30) as first:
        await eventually(lambda: "exclusive" in first.positions)
        with pytest.raises(SubscriptionBusy):
            await EventRunner(db, [subscription]).catch_up("exclusive")
    await EventRunner(db, [subscription]).catch_up("exclusive")  # released on stop


async def test_a_subscription_can_start_at_the_end_of_the_log(db: Database) -> None:
    seen: list[int] = []
    subscription = Subscription("mailer", start="end")

    @subscription.handles(Tick)
    async def mail(event: Tick, record: StoredEvent) -> None:
        seen.append(event.n)

    async with db.unit_of_work() as uow:
        uow.publish(Tick(channel="c", n=1))
    async with EventRunner(db, [subscription], poll_interval=0.02) as runner:
        await eventually(lambda: "mailer" in runner.positions)
        async with db.unit_of_work() as uow:
            uow.publish(Tick(channel="c", n=2))
        await eventually(lambda: seen == [2])


async def test_events_raised_by_handlers_carry_correlation_and_causation(db: Database) -> None:
    subscription = Subscription("chain")

    @subscription.handles(Deposited)
    async def react(event: Deposited, record: StoredEvent) -> None:
        async with db.unit_of_work() as uow:
            uow.publish(Tick(channel="caused", n=event.amount))

    with use_context(correlation_id="req-7"):
        async with db.unit_of_work() as uow:
            uow.publish(Deposited(account="a", amount=5))
    await EventRunner(db, [subscription]).catch_up("chain")
    cause, effect = await EventStore(db).read()
    assert effect.context.correlation_id == "req-7"
    assert effect.context.causation_id == str(cause.event_id)


# ------------------------------------------------------------------ projections and replay


def balance_projection(db: Database) -> Subscription:
    """Balances per account, in a table; not idempotent on purpose (replay must reset it)."""
    dialect = db.dialect_name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def build_upsert() -> object:
        stmt = insert(balances).values(
            account=bindparam("account"), balance=bindparam("delta"), events=1
        )
        return stmt.on_conflict_do_update(
            index_elements=["account"],
            set_={"balance": balances.c.balance + stmt.excluded.balance,
                  "events": balances.c.events + 1},
        )  # fmt: skip

    async def reset() -> None:
        stmt = db.statements.get(("test", "balances", "reset"), lambda: delete(balances))
        async with db.connection() as conn:
            await stmt.execute(conn, {})

    subscription = Subscription("balances", reset=reset)

    @subscription.handles(Deposited, Withdrawn)
    async def apply(event: Deposited | Withdrawn, record: StoredEvent) -> None:
        delta = event.amount if isinstance(event, Deposited) else -event.amount
        stmt = db.statements.get(("test", "balances", "upsert"), build_upsert)  # type: ignore[arg-type]
        async with db.connection() as conn:
            await stmt.execute(conn, {"account": event.account, "delta": delta})

    return subscription


async def balances_table(db: Database) -> dict[str, tuple[int, int]]:
    stmt = db.statements.get(("test", "balances", "all"), lambda: select(*balances.c))
    async with db.connection() as conn:
        rows = await stmt.fetch(conn, {})
    return {row["account"]: (row["balance"], row["events"]) for row in rows}


async def test_replay_rebuilds_a_projection_equal_to_live_processing(db: Database) -> None:
    projection = balance_projection(db)
    events: list[DomainEvent] = []
    for n in range(60):
        account = f"acct-{n % 5}"
        events.append(Deposited(account=account, amount=n) if n % 3 else
                      Withdrawn(account=account, amount=n // 2))  # fmt: skip
    async with EventRunner(db, [projection], poll_interval=0.02) as runner:
        for chunk in range(0, 60, 7):
            async with db.unit_of_work() as uow:
                for event in events[chunk : chunk + 7]:
                    uow.publish(event)
            await asyncio.sleep(0.01)
        last = await EventStore(db).last_position()
        await eventually(lambda: runner.positions.get("balances") == last)
        live = await balances_table(db)

        expected: dict[str, int] = {}
        for event in events:
            assert isinstance(event, Deposited | Withdrawn)
            sign = 1 if isinstance(event, Deposited) else -1
            expected[event.account] = expected.get(event.account, 0) + sign * event.amount
        assert {k: v[0] for k, v in live.items()} == expected

        progress: list[tuple[int, int]] = []
        read = await runner.replay("balances", progress=lambda p, t: progress.append((p, t)))
        assert read == 60
        assert progress[-1] == (last, last)
        assert await balances_table(db) == live


async def test_replay_from_a_later_position_does_not_reset(db: Database) -> None:
    projection = balance_projection(db)
    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=10))
        uow.publish(Deposited(account="a", amount=5))
    runner = EventRunner(db, [projection])
    await runner.catch_up("balances")
    first = (await EventStore(db).read())[0].position
    await runner.replay("balances", after=first)
    assert await balances_table(db) == {"a": (20, 3)}  # the second event handled twice


async def test_a_checkpoint_survives_a_new_runner(db: Database) -> None:
    projection = balance_projection(db)
    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=10))
    await EventRunner(db, [projection]).catch_up("balances")
    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=1))
    await EventRunner(db, [projection]).catch_up("balances")
    assert await balances_table(db) == {"a": (11, 2)}


async def test_lease_lost_mid_batch_stops_the_runner_from_advancing(db: Database) -> None:
    from lamina.persistence.tables import subscriptions

    subscription = Subscription("stolen")

    @subscription.handles(Tick)
    async def steal(event: Tick, record: StoredEvent) -> None:
        stmt = db.statements.get(
            ("test", "subscriptions", "steal"),
            lambda: update(subscriptions).values(owner=bindparam("owner")),
        )
        async with db.connection() as conn:
            await stmt.execute(conn, {"owner": "someone-else"})

    async with db.unit_of_work() as uow:
        uow.publish(Tick(channel="c", n=1))
    with pytest.raises(SubscriptionBusy, match="lease lost"):
        await EventRunner(db, [subscription]).catch_up("stolen")


async def test_g8_a_handler_of_events_together_gets_each_batch_in_one_call(
    db: Database,
) -> None:
    calls: list[list[tuple[str, int]]] = []
    singles: list[int] = []
    subscription = Subscription("together")

    @subscription.handles_together(Deposited, Withdrawn)
    async def book(events: list[tuple[Deposited | Withdrawn, StoredEvent]]) -> None:
        calls.append([(record.event_type, event.amount) for event, record in events])

    @subscription.handles(Tick)
    async def tick(event: Tick, record: StoredEvent) -> None:
        singles.append(event.n)

    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=1))
        uow.publish(Tick(channel="t", n=1))
        uow.publish(Withdrawn(account="a", amount=2))
        uow.publish(Tick(channel="t", n=2))
        uow.publish(Deposited(account="a", amount=3))
    runner = EventRunner(db, [subscription], batch_size=100)
    await runner.catch_up("together")

    assert calls == [[("test.deposited", 1), ("test.withdrawn", 2), ("test.deposited", 3)]]
    assert singles == [1, 2]
    assert runner.stats.delivered == 5


async def test_g8_events_handled_together_are_dead_lettered_each_and_redriven_alone(
    db: Database,
) -> None:
    calls: list[list[int]] = []
    fixed = False
    subscription = Subscription("together-failing", retry=FAST)

    @subscription.handles_together(Deposited)
    async def book(events: list[tuple[Deposited, StoredEvent]]) -> None:
        if not fixed:
            raise ValueError("projection store down")
        calls.append([event.amount for event, _ in events])

    async with db.unit_of_work() as uow:
        for amount in (1, 2):
            uow.publish(Deposited(account="a", amount=amount))

    async with EventRunner(db, [subscription], poll_interval=0.02) as runner:
        await eventually(lambda: runner.stats.dead_lettered == 2)
        assert [letter.attempts for letter in await DeadLetters(db).find()] == [3, 3]
        fixed = True
        assert await DeadLetters(db).request_redrive(subscription="together-failing") == 2
        await eventually(lambda: runner.stats.redriven == 2)
    assert sorted(calls) == [[1], [2]]
    assert await DeadLetters(db).find("together-failing") == []
