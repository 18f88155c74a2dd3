"""Health, readiness and metrics endpoints, and the per-request metrics and access log.

``GET /healthz``  the process answers (no dependencies checked): 200 ``{"status": "ok"}``.
``GET /readyz``   every readiness check passes: 200, else a 503 problem with ``Retry-After``.
``GET /metrics``  Prometheus text format, from the app's own registry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamina.api.metrics import METRICS_CONTENT_TYPE, UNMATCHED_ROUTE, ApiMetrics
from lamina.api.problems import (
    DEFAULT_RETRY_AFTER_SECONDS,
    HANDLED_ERROR_SCOPE_KEY,
    problem_response,
)
from lamina.domain.errors import InvalidInput, Unavailable, VersionConflict
from lamina.persistence.errors import is_outage
from lamina.persistence.instrumentation import count_queries

ReadinessCheck = Callable[[], Awaitable[object]]
"""An async check that returns when a dependency is usable and raises when it is not.

``Database.ping`` is one: it raises :class:`~lamina.domain.Unavailable` when the
database does not answer.
"""

access_logger = logging.getLogger("lamina.api.access")
_checks_logger = logging.getLogger("lamina.api.readiness")


def observability_router(
    *,
    metrics: ApiMetrics | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    readiness_timeout_seconds: float = 5.0,
) -> APIRouter:
    """A router with ``/healthz``, ``/readyz`` and, given ``metrics``, ``/metrics``.

    ``readiness_checks`` maps a name (``"database"``) to a check; they run
    concurrently, each within ``readiness_timeout_seconds``. The routes are
    left out of the OpenAPI document: they are for operators, not clients.
    """
    router = APIRouter(include_in_schema=False)
    checks = dict(readiness_checks or {})

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        names = list(checks)
        outcomes = await asyncio.gather(
            *(_run_check(name, checks[name], readiness_timeout_seconds) for name in names)
        )
        states = {name: state for name, (state, _) in zip(names, outcomes, strict=True)}
        failed = [name for name, state in states.items() if state != "ok"]
        if not failed:
            return JSONResponse({"status": "ok", "checks": states})
        retry_after = max(wait for _, wait in outcomes)
        return problem_response(
            503,
            Unavailable.code,
            detail=f"not ready: {', '.join(failed)}",
            instance=request.url.path,
            headers={"Retry-After": str(retry_after)},
            extensions={"checks": states, "retry_after": retry_after},
        )

    if metrics is not None:
        exposed = metrics

        @router.get("/metrics")
        async def prometheus_metrics() -> Response:
            return Response(exposed.exposition(), media_type=METRICS_CONTENT_TYPE)

    return router


async def _run_check(name: str, check: ReadinessCheck, seconds: float) -> tuple[str, int]:
    """``(state, retry_after)``: ``ok``, ``unavailable``, ``timeout`` or ``failed``."""
    try:
        async with asyncio.timeout(seconds):
            await check()
    except TimeoutError:
        _checks_logger.warning("readiness check %s timed out after %ss", name, seconds)
        return "timeout", DEFAULT_RETRY_AFTER_SECONDS
    except Unavailable as exc:
        _checks_logger.warning("readiness check %s: %s", name, exc.message)
        return "unavailable", max(exc.retry_after, 0)
    except Exception as exc:
        if is_outage(exc):
            _checks_logger.warning("readiness check %s: %s", name, type(exc).__name__)
            return "unavailable", DEFAULT_RETRY_AFTER_SECONDS
        _checks_logger.error("readiness check %s failed", name, exc_info=exc)
        return "failed", DEFAULT_RETRY_AFTER_SECONDS
    return "ok", 0


class ObservabilityMiddleware:
    """Counts each request's database statements, records its metrics, logs one access line.

    The access line (logger ``lamina.api.access``, level INFO) has ``method``,
    ``route`` (the template), ``path``, ``status``, ``duration_ms`` and
    ``queries``; the correlation id comes from the request's EventContext.
    """

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        status = 500  # what the server answers if the app fails before responding

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with count_queries() as tally:
            try:
                await self.app(scope, receive, send_observed)
            finally:
                seconds = time.perf_counter() - started_at
                route = route_template(scope)
                self.metrics.observe_request(
                    method=scope["method"],
                    route=route,
                    status=status,
                    seconds=seconds,
                    queries=tally.queries,
                    query_seconds=tally.seconds,
                )
                self._count_refusal(scope.get(HANDLED_ERROR_SCOPE_KEY))
                if self.access_log:
                    _log_access(scope, route, status, seconds, tally.queries)

    def _count_refusal(self, error: object) -> None:
        if isinstance(error, VersionConflict):
            self.metrics.version_conflicts.inc()
        elif isinstance(error, InvalidInput | RequestValidationError):
            self.metrics.validation_failures.inc()


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/orders/{id}``), or ``unmatched``.

    Routes that are not API routes (``/docs``, ``/openapi.json``) leave no
    route in the scope; one without path parameters is its own template.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str) and template:
        return template
    if scope.get("endpoint") is not None and not scope.get("path_params"):
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        return path[len(root) :] if root and path.startswith(root) else path
    return UNMATCHED_ROUTE


def _log_access(scope: Scope, route: str, status: int, seconds: float, queries: int) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    method = scope["method"]
    access_logger.info(
        "%s %s %s",
        method,
        route,
        status,
        extra={
            "method": method,
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "queries": queries,
        },
    )
