"""Domain events end to end: the store, wake-ups, subscriptions with checkpoints, live delivery.

Events are appended by ``uow.publish(event)`` when the unit of work commits
(never when it rolls back). From there:

* :class:`EventStore` reads the log by position (never skipping a late commit,
  G7) and one stream by version;
* :class:`EventRunner` feeds :class:`Subscription` handlers with durable
  checkpoints, at-least-once (G8), with retries, dead letters and replay;
* :class:`EventNotifier` wakes readers (PostgreSQL ``LISTEN``/``NOTIFY``,
  in-process commits, polling as the fallback);
* :class:`EventFeed` and :class:`LiveHub` fan the log out to live clients
  (the SSE endpoint is :class:`lamina.api.sse.EventStreams`);
* :class:`EventRelay` publishes the log to NATS JetStream, exactly once per
  position (G19), and :class:`StreamConsumer` follows such a stream from a
  service without database access (wire format: :mod:`lamina.events.wire`).
"""

from lamina.events.checkpoints import SubscriptionState, subscription_states
from lamina.events.dead_letters import DeadLetter, DeadLetters
from lamina.events.feed import EventFeed, FeedStats
from lamina.events.handlers import HandlerRetry, Subscription
from lamina.events.jetstream import StreamSettings
from lamina.events.live import (
    ConnectionInfo,
    Credential,
    LiveConnection,
    LiveHub,
    LiveStats,
    TooManyConnections,
)
from lamina.events.metrics import EventMetrics
from lamina.events.notifier import EventNotifier
from lamina.events.registry import EventDecodeError, EventRegistry, default_registry
from lamina.events.relay import EventRelay, ForeignMessages, RelayStalled, RelayStats
from lamina.events.rollups import Average, Count, Rollup, Summary
from lamina.events.runner import EventRunner, RunnerStats, SubscriptionBusy, work_order
from lamina.events.store import EventStore
from lamina.events.stored import StoredEvent
from lamina.events.stream_consumer import ConsumerStats, StreamConsumer
from lamina.events.stream_dead_letters import (
    DeadLetterSink,
    JetStreamDeadLetters,
    StreamDeadLetter,
)

__all__ = [
    "Average",
    "ConnectionInfo",
    "ConsumerStats",
    "Count",
    "Credential",
    "DeadLetter",
    "DeadLetterSink",
    "DeadLetters",
    "EventDecodeError",
    "EventFeed",
    "EventMetrics",
    "EventNotifier",
    "EventRegistry",
    "EventRelay",
    "EventRunner",
    "EventStore",
    "FeedStats",
    "ForeignMessages",
    "HandlerRetry",
    "JetStreamDeadLetters",
    "LiveConnection",
    "LiveHub",
    "LiveStats",
    "RelayStalled",
    "RelayStats",
    "Rollup",
    "RunnerStats",
    "StoredEvent",
    "StreamConsumer",
    "StreamDeadLetter",
    "StreamSettings",
    "Subscription",
    "SubscriptionBusy",
    "SubscriptionState",
    "Summary",
    "TooManyConnections",
    "default_registry",
    "subscription_states",
    "work_order",
]
