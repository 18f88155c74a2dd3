"""Prometheus metrics of one app, in a registry of its own.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so
several apps in one process (tests, mounted sub-apps) never collide. Other
parts add their collectors to :attr:`ApiMetrics.registry`::

    open_streams = Gauge("lamina_sse_connections_open", "Open SSE connections",
                         registry=metrics_of(app).registry)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""Content type of :meth:`ApiMetrics.exposition` (Prometheus text format 0.0.4)."""

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
"""The ``route`` label of requests no route matched (so raw paths never become labels)."""

_RequestSeries = tuple[Counter, Histogram, Histogram, Histogram]
"""The labelled children one (method, route, status) updates, looked up once."""
_QUERY_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144)
_QUERY_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ApiMetrics:
    """The request metrics of one app and the registry that exposes them.

    Labels are bounded: the HTTP method (unknown ones become ``OTHER``), the
    route template (``/orders/{id}``, never the raw path) and the status code.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
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
        """Every collector of the registry in Prometheus text format."""
        return bytes(generate_latest(self.registry))
