"""Prometheus metrics of one app: its requests, and the collectors other parts add.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so several
apps in one process (tests, mounted sub-apps) never collide. Other parts add
collectors with :meth:`ApiMetrics.add_collector` (``EventMetrics``,
:class:`DatabaseMetrics`).

**Several worker processes.** When ``PROMETHEUS_MULTIPROC_DIR`` names a folder
(set it, empty, before the workers start; ``python -m examples.chat`` does
with ``WORKERS`` > 1), prometheus-client keeps every metric in files there
and ``/metrics`` sums every worker's, whichever worker answers. Collectors
that read in-process counters are copied into such metrics every second (and
at each scrape, for the answering worker): counters only grow, gauges of
open things add up across workers, positions take the highest.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from lamina.persistence.database import Database

METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""Content type of :meth:`ApiMetrics.exposition` (Prometheus text format 0.0.4)."""

MULTIPROCESS_DIR_VAR = "PROMETHEUS_MULTIPROC_DIR"
SHARE_EVERY = 1.0
"""Seconds between two copies of in-process collectors into the shared files."""

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
"""The ``route`` label of requests no route matched (so raw paths never become labels)."""

_RequestSeries = tuple[Counter, Histogram, Histogram, Histogram]
"""The labelled children one (method, route, status) updates, looked up once."""
_QUERY_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144)
_QUERY_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def multiprocess_dir() -> str | None:
    """The folder metrics are shared through between worker processes, if one is set."""
    return os.environ.get(MULTIPROCESS_DIR_VAR) or None


class ApiMetrics:
    """The request metrics of one app and the registry that exposes them.

    Labels are bounded: the HTTP method (unknown ones become ``OTHER``), the
    route template (``/orders/{id}``, never the raw path) and the status code.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.shared = SharedCollectors() if multiprocess_dir() else None
        """Copies added collectors into the files every worker reads (several workers)."""
        labels = ("method", "route", "status")
        self.requests = Counter(
            "lamina_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.request_seconds = Histogram(
            "lamina_http_request_duration_seconds",
            "Time from request to the end of the response.",
            labels,
            registry=self.registry,
        )
        self.request_queries = Histogram(
            "lamina_http_request_db_queries",
            "Database statements sent per request.",
            ("method", "route"),
            buckets=_QUERY_BUCKETS,
            registry=self.registry,
        )
        self.request_query_seconds = Histogram(
            "lamina_http_request_db_seconds",
            "Time spent in database statements per request.",
            ("method", "route"),
            buckets=_QUERY_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.version_conflicts = Counter(
            "lamina_version_conflicts",
            "Requests refused because the entity changed since it was read.",
            registry=self.registry,
        )
        self.validation_failures = Counter(
            "lamina_validation_failures",
            "Requests refused because their input was invalid.",
            registry=self.registry,
        )
        self._series: dict[tuple[str, str, int], _RequestSeries] = {}

    def add_collector(self, collector: Collector) -> None:
        """Expose ``collector``'s metrics too (with several workers: every worker's)."""
        if self.shared is None:
            self.registry.register(collector)
        else:
            self.shared.add(collector)

    def observe_request(
        self,
        *,
        method: str,
        route: str,
        status: int,
        seconds: float,
        queries: int,
        query_seconds: float,
    ) -> None:
        """Record one answered request."""
        method = method if method in KNOWN_METHODS else "OTHER"
        series = self._series.get((method, route, status))
        if series is None:
            series = self._series[(method, route, status)] = self._new_series(method, route, status)
        requests, request_seconds, request_queries, request_query_seconds = series
        requests.inc()
        request_seconds.observe(seconds)
        request_queries.observe(queries)
        request_query_seconds.observe(query_seconds)

    def _new_series(self, method: str, route: str, status: int) -> _RequestSeries:
        return (
            self.requests.labels(method, route, str(status)),
            self.request_seconds.labels(method, route, str(status)),
            self.request_queries.labels(method, route),
            self.request_query_seconds.labels(method, route),
        )

    def exposition(self) -> bytes:
        """Every metric in Prometheus text format: this process's, or every worker's."""
        if self.shared is None:
            return bytes(generate_latest(self.registry))
        self.shared.publish()
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(every_worker))

    async def share_periodically(self) -> None:
        """Copy the added collectors into the shared files every :data:`SHARE_EVERY` seconds,
        until cancelled; then take this worker's open-things gauges out (it is stopping)."""
        if self.shared is None:
            return
        try:
            while True:
                self.shared.publish()
                await asyncio.sleep(SHARE_EVERY)
        finally:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class SharedCollectors:
    """Collectors of in-process counters, copied into prometheus-client's multiprocess metrics.

    A counter grows by what its source grew since the last copy; a gauge is
    set, and read across workers as a sum (``livesum``) unless the collector's
    ``gauge_modes`` says otherwise (``{"lamina_subscription_position": "livemax"}``).
    """

    def __init__(self) -> None:
        self._collectors: list[Collector] = []
        self._registry = CollectorRegistry()
        self._metrics: dict[str, Counter | Gauge] = {}
        self._last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def add(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def publish(self) -> None:
        """Copy every collector's current values."""
        for collector in self._collectors:
            modes: Mapping[str, str] = getattr(collector, "gauge_modes", {})
            for family in collector.collect():
                self._publish(family, modes.get(family.name, "livesum"))

    def _publish(self, family: Metric, mode: str) -> None:
        for sample in family.samples:
            if family.type == "counter" and not sample.name.endswith("_total"):
                continue  # the _created sample
            labels = dict(sample.labels)
            metric = self._metric(family, sorted(labels), mode)
            child: Any = metric.labels(**labels) if labels else metric
            if family.type == "counter":
                key = (family.name, tuple(sorted(labels.items())))
                grown = sample.value - self._last.get(key, 0.0)
                if grown > 0:
                    child.inc(grown)
                self._last[key] = sample.value
            else:
                child.set(sample.value)

    def _metric(self, family: Metric, labels: list[str], mode: str) -> Counter | Gauge:
        found = self._metrics.get(family.name)
        if found is None:
            if family.type == "counter":
                found = Counter(family.name, family.documentation, labels, registry=self._registry)
            else:
                found = Gauge(
                    family.name,
                    family.documentation,
                    labels,
                    registry=self._registry,
                    multiprocess_mode=mode,  # type: ignore[arg-type]
                )
            self._metrics[family.name] = found
        return found


class DatabaseMetrics(Collector):
    """The connection pool and statement counters of a :class:`Database`, at scrape time.

    ``lamina_db_pool_size``, ``lamina_db_connections_open``,
    ``lamina_db_connections_in_use``, ``lamina_db_queries_total``,
    ``lamina_db_query_seconds_total``, ``lamina_db_transactions_total``,
    ``lamina_db_rollbacks_total`` and ``lamina_db_retries_total``; and what the data
    went through: ``lamina_db_version_conflicts_total`` (stale writes refused),
    ``lamina_db_soft_deletes_total``, ``lamina_db_hard_deletes_total`` and
    ``lamina_db_audit_entries_total`` (audit entries written).
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterable[Metric]:
        usage = self.db.pool_usage()
        stats = self.db.stats
        yield GaugeMetricFamily("lamina_db_pool_size", "Connections the pool may hold.", usage.size)
        yield GaugeMetricFamily("lamina_db_connections_open", "Open connections.", usage.open)
        yield GaugeMetricFamily("lamina_db_connections_in_use", "Lent out.", usage.in_use)
        yield CounterMetricFamily("lamina_db_queries", "Statements sent.", value=stats.queries)
        yield CounterMetricFamily(
            "lamina_db_query_seconds", "Time spent in statements.", value=stats.query_seconds
        )
        yield CounterMetricFamily(
            "lamina_db_transactions", "Units of work committed.", value=stats.transactions
        )
        yield CounterMetricFamily("lamina_db_rollbacks", "Rolled back.", value=stats.rollbacks)
        yield CounterMetricFamily(
            "lamina_db_retries", "Units of work re-run after transient failures.", stats.retries
        )
        for name, help_text, value in (
            ("version_conflicts", "Writes refused: stale version.", stats.version_conflicts),
            ("soft_deletes", "Rows soft-deleted.", stats.soft_deletes),
            ("hard_deletes", "Rows deleted for good.", stats.hard_deletes),
            ("audit_entries", "Audit entries written.", stats.audit_entries),
        ):
            yield CounterMetricFamily(f"lamina_db_{name}", help_text, value=value)
