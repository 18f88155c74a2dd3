"""Prometheus metrics of events: appended, delivered, failed, dead-lettered, live streams."""

from __future__ import annotations

from events_testkit import Deposited, publish_ticks
from prometheus_client import CollectorRegistry, generate_latest

from lamina.api import ApiMetrics
from lamina.api.sse import EventStreams
from lamina.events import EventMetrics, EventRunner, HandlerRetry, StoredEvent, Subscription
from lamina.persistence import Database


def sample(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")


async def test_event_counters_are_exposed_on_the_app_registry(db: Database) -> None:
    subscription = Subscription("metered", retry=HandlerRetry(max_attempts=2, base_delay=0.001))

    @subscription.handles(Deposited)
    async def pick(event: Deposited, record: StoredEvent) -> None:
        if event.amount < 0:
            raise ValueError("negative")

    async with db.unit_of_work() as uow:
        uow.publish(Deposited(account="a", amount=1))
        uow.publish(Deposited(account="a", amount=-1))
    await publish_ticks(db, 3)
    runner = EventRunner(db, [subscription])
    await runner.catch_up("metered")
    streams = EventStreams(db)

    metrics = ApiMetrics()
    metrics.registry.register(EventMetrics(db=db, runners=[runner], live=[streams]))
    text = metrics.exposition().decode()
    assert sample(text, "lamina_events_appended_total") == 5
    assert sample(text, "lamina_events_delivered_total") == 1
    assert sample(text, "lamina_events_failed_total") == 2
    assert sample(text, "lamina_events_dead_lettered_total") == 1
    assert 'lamina_subscription_position{subscription="metered"} 5.0' in text
    assert sample(text, "lamina_sse_connections_open") == 0
    assert sample(text, "lamina_sse_slow_disconnects_total") == 0


def test_the_collector_works_on_any_registry() -> None:
    registry = CollectorRegistry()
    registry.register(EventMetrics())
    assert generate_latest(registry) == b""
