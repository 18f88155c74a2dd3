"""The relayed wire format as a schema others can read, and the relay's metrics."""

from __future__ import annotations

import asyncio
import json

from events_testkit import Deposited, Tick
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from lamina.cli import app
from lamina.events import EventMetrics, EventRegistry, EventRelay, EventStore
from lamina.events.schema import event_schema
from lamina.persistence import Database
from nats_kit import cleaned_up, unique_stream, wait_for_count


def sample(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")


def test_schema_describes_envelope_headers_and_each_payload() -> None:
    registry = EventRegistry()
    registry.register(Deposited)
    registry.register(Tick)
    schema = event_schema(registry)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"position", "event_id", "event_type", "payload", "context"} <= set(schema["required"])
    assert "Nats-Msg-Id" in schema["x-lamina-headers"]
    assert "Lamina-Position" in schema["x-lamina-headers"]
    deposited = schema["$defs"]["event:test.deposited"]
    assert deposited["properties"]["amount"]["type"] == "integer"
    [branch] = [
        b for b in schema["allOf"] if b["if"]["properties"]["event_type"]["const"] == "test.tick"
    ]
    assert branch["then"]["properties"]["payload"] == {"$ref": "#/$defs/event:test.tick"}
    assert schema["x-lamina-event-types"]["test.deposited"]["stream_field"] == "account"


def test_schema_command_prints_the_registered_types() -> None:
    result = CliRunner().invoke(app, ["events", "schema", "--module", "events_testkit"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert "event:test.note_written" in document["$defs"]


def test_schema_command_names_a_module_it_cannot_import() -> None:
    result = CliRunner().invoke(app, ["events", "schema", "--module", "no_such_module_here"])
    assert result.exit_code == 1
    assert "cannot import 'no_such_module_here'" in result.output


async def test_relay_exposes_throughput_position_and_lag(db: Database, nats_url: str) -> None:
    stream = unique_stream()
    async with cleaned_up(nats_url, stream):
        async with db.unit_of_work() as uow:
            for n in range(40):
                uow.publish(Tick(channel="m", n=n))
        relay = EventRelay(db, nats_url, stream=stream, subject_prefix=stream.lower())
        registry = CollectorRegistry()
        registry.register(EventMetrics(relays=[relay]))
        async with relay:
            assert await wait_for_count(nats_url, stream, 40, 10) == 40
            last = await EventStore(db).last_position()
            for _ in range(100):
                if relay.stats.position == last and relay.stats.head == last:
                    break
                await asyncio.sleep(0.05)
            text = generate_latest(registry).decode()
    assert sample(text, "lamina_relay_published_total") == 40
    assert sample(text, "lamina_relay_position") == last
    assert sample(text, "lamina_relay_lag") == 0
    assert sample(text, "lamina_relay_failures_total") == 0
