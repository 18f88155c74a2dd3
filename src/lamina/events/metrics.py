"""Prometheus metrics of the event machinery, read from its counters at scrape time.

Add one collector to the app's metrics (``lamina.api.install`` returns them)::

    metrics.add_collector(EventMetrics(db=db, runners=[runner], live=[streams], feed=feed))

Exposed: ``lamina_events_appended_total``, ``lamina_events_delivered_total``,
``lamina_events_failed_total``, ``lamina_events_dead_lettered_total``,
``lamina_subscription_position{subscription}``, ``lamina_sse_connections_open``,
``lamina_sse_events_sent_total``, ``lamina_sse_heartbeats_total``,
``lamina_sse_slow_disconnects_total``, and with a feed ``lamina_event_log_position`` and
``lamina_subscription_lag{subscription}``; with relays ``lamina_relay_published_total``
(its rate is the relay's throughput), ``lamina_relay_duplicates_total``,
``lamina_relay_failures_total``, ``lamina_relay_position{stream}`` and
``lamina_relay_lag{stream}``; with stream consumers ``lamina_stream_consumer_delivered_total``,
``lamina_stream_consumer_failed_total``, ``lamina_stream_consumer_dead_lettered_total`` and
``lamina_stream_consumer_position{consumer}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lamina.events.feed import EventFeed
from lamina.events.live import LiveStats
from lamina.events.relay import EventRelay
from lamina.events.runner import EventRunner
from lamina.events.stream_consumer import StreamConsumer
from lamina.persistence.database import Database


class HasLiveStats(Protocol):
    """Anything with live-stream counters: a ``LiveHub`` or ``lamina.api.sse.EventStreams``."""

    @property
    def stats(self) -> LiveStats: ...


class EventMetrics(Collector):
    """A Prometheus collector over a database's, runners' and live streams' counters.

    With a ``feed`` (the reader live streams share), also the log's head as
    this process last read it (``lamina_event_log_position``) and each held
    subscription's lag behind it (``lamina_subscription_lag``).
    """

    gauge_modes = {
        "lamina_subscription_position": "livemax",
        "lamina_subscription_lag": "livemax",
        "lamina_event_log_position": "livemax",
        "lamina_relay_position": "livemax",
        "lamina_relay_lag": "livemax",
        "lamina_stream_consumer_position": "livemax",
    }
    """How several workers' values combine (see ``lamina.api.metrics.SharedCollectors``)."""

    def __init__(
        self,
        *,
        db: Database | None = None,
        runners: Sequence[EventRunner] = (),
        live: Sequence[HasLiveStats] = (),
        feed: EventFeed | None = None,
        relays: Sequence[EventRelay] = (),
        consumers: Sequence[StreamConsumer] = (),
    ) -> None:
        self.db = db
        self.runners = list(runners)
        self.live = list(live)
        self.feed = feed
        self.relays = list(relays)
        self.consumers = list(consumers)

    def collect(self) -> Iterator[Metric]:
        """The current values (called by the registry on each scrape)."""
        if self.db is not None:
            appended = self.db.stats.events_appended
            yield _counter("lamina_events_appended", "Events appended to the store.", appended)
        if self.runners:
            stats = [runner.stats for runner in self.runners]
            yield _counter(
                "lamina_events_delivered",
                "Events handled successfully by subscription handlers.",
                sum(s.delivered for s in stats),
            )
            yield _counter(
                "lamina_events_failed",
                "Handler attempts that raised.",
                sum(s.failed for s in stats),
            )
            yield _counter(
                "lamina_events_dead_lettered",
                "Events given up on after their retries.",
                sum(s.dead_lettered for s in stats),
            )
            positions = GaugeMetricFamily(
                "lamina_subscription_position",
                "Last handled position of each subscription held by this process.",
                labels=["subscription"],
            )
            lags = GaugeMetricFamily(
                "lamina_subscription_lag",
                "Events in the log after each held subscription's position.",
                labels=["subscription"],
            )
            for runner in self.runners:
                for name, position in sorted(runner.positions.items()):
                    positions.add_metric([name], position)
                    if self.feed is not None:
                        lags.add_metric([name], max(0, self.feed.position - position))
            yield positions
            if self.feed is not None:
                yield lags
        if self.feed is not None:
            yield GaugeMetricFamily(
                "lamina_event_log_position",
                "The last position of the event log this process has read.",
                value=self.feed.position,
            )
        if self.relays:
            yield from _relay_metrics(self.relays)
        if self.consumers:
            yield from _consumer_metrics(self.consumers)
        if self.live:
            live = [source.stats for source in self.live]
            yield GaugeMetricFamily(
                "lamina_sse_connections_open",
                "Open live event streams.",
                value=sum(s.connections_open for s in live),
            )
            sent = sum(s.events_sent for s in live)
            yield _counter("lamina_sse_events_sent", "Events sent to live streams.", sent)
            heartbeats = sum(s.heartbeats_sent for s in live)
            yield _counter("lamina_sse_heartbeats", "Heartbeats sent to idle streams.", heartbeats)
            yield _counter(
                "lamina_sse_slow_disconnects",
                "Streams dropped because the client could not keep up.",
                sum(s.slow_disconnects for s in live),
            )


def _relay_metrics(relays: Sequence[EventRelay]) -> Iterator[Metric]:
    stats = [relay.stats for relay in relays]
    yield _counter(
        "lamina_relay_published",
        "Events the relay published and JetStream stored (its rate: relay throughput).",
        sum(s.published for s in stats),
    )
    yield _counter(
        "lamina_relay_duplicates",
        "Re-published events JetStream dropped as copies.",
        sum(s.duplicates for s in stats),
    )
    yield _counter(
        "lamina_relay_failures",
        "Relay cycles that failed and were retried (the relay stalls, never skips).",
        sum(s.failures for s in stats),
    )
    positions = GaugeMetricFamily(
        "lamina_relay_position",
        "The relay's checkpoint: every event up to it is in the stream.",
        labels=["stream"],
    )
    lags = GaugeMetricFamily(
        "lamina_relay_lag", "Events in the log not yet in the stream.", labels=["stream"]
    )
    for relay in relays:
        if relay.stats.holding:
            positions.add_metric([relay.stream], relay.stats.position)
            lags.add_metric([relay.stream], relay.stats.lag)
    yield positions
    yield lags


def _consumer_metrics(consumers: Sequence[StreamConsumer]) -> Iterator[Metric]:
    stats = [consumer.stats for consumer in consumers]
    yield _counter(
        "lamina_stream_consumer_delivered",
        "Relayed events stream consumers' handlers took successfully.",
        sum(s.delivered for s in stats),
    )
    yield _counter(
        "lamina_stream_consumer_failed",
        "Stream consumer handler attempts that raised.",
        sum(s.failed for s in stats),
    )
    yield _counter(
        "lamina_stream_consumer_dead_lettered",
        "Relayed events stream consumers gave up on.",
        sum(s.dead_lettered for s in stats),
    )
    positions = GaugeMetricFamily(
        "lamina_stream_consumer_position",
        "Position of the last event each stream consumer acknowledged.",
        labels=["consumer"],
    )
    for consumer in consumers:
        positions.add_metric([consumer.durable], consumer.stats.position)
    yield positions


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
