"""Wire problem+json errors, request safety and observability onto a FastAPI app in one call.

>>> app = FastAPI()
>>> install(app, ApiSettings(cors_origins=("https://app.example",),
...                          readiness_checks={"database": database.ping}))
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Self, get_origin

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.middleware.cors import CORSMiddleware

from lamina.api.docs import serve_docs_offline
from lamina.api.json_input import JsonInputMiddleware
from lamina.api.metrics import ApiMetrics
from lamina.api.middleware import (
    BodyLimitMiddleware,
    ErrorBoundaryMiddleware,
    SecurityHeadersMiddleware,
)
from lamina.api.observability import ObservabilityMiddleware, ReadinessCheck, observability_router
from lamina.api.problems import PROBLEM_MEDIA_TYPE, Problem, register_problem_handlers
from lamina.api.request_context import RequestContextMiddleware
from lamina.events.tasks import cancel_and_wait

ENV_PREFIX = "LAMINA_API_"
_METRICS_STATE = "lamina_metrics"


class ApiSettings(BaseModel):
    """What :func:`install` sets up. :meth:`from_env` reads ``LAMINA_API_<FIELD>`` variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = Field(default=1_048_576, ge=0)
    """Largest request body accepted; larger ones get 413."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call from a browser; empty turns CORS off."""
    cors_allow_credentials: bool = False
    cors_allow_methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    cors_allow_headers: tuple[str, ...] = (
        "Authorization",
        "Content-Type",
        "If-Match",
        "If-None-Match",
        "Last-Event-ID",
        "X-Request-ID",
        "X-Correlation-ID",
    )
    cors_expose_headers: tuple[str, ...] = (
        "ETag",
        "Location",
        "Retry-After",
        "X-Request-ID",
        "X-Correlation-ID",
    )
    cors_max_age_seconds: int = Field(default=600, ge=0)
    security_headers: bool = True
    expose_metrics: bool = True
    """Serve ``GET /metrics`` (metrics are collected either way)."""
    access_log: bool = True
    readiness_checks: dict[str, ReadinessCheck] = Field(default_factory=dict)
    """Name → async check run by ``GET /readyz`` (a :data:`~lamina.api.ReadinessCheck`)."""
    readiness_timeout_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _credentials_need_named_origins(self) -> Self:
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError("cors_allow_credentials needs explicit origins, not '*'")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ApiSettings:
        """Settings from ``LAMINA_API_MAX_BODY_BYTES``, ``LAMINA_API_CORS_ORIGINS`` (comma
        separated) and so on for every plain field; ``overrides`` win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None or name == "readiness_checks":
                continue
            if get_origin(field.annotation) is tuple:
                values[name] = tuple(part.strip() for part in raw.split(",") if part.strip())
            else:
                values[name] = raw
        return cls.model_validate({**values, **overrides})


def install(app: FastAPI, settings: ApiSettings | None = None) -> ApiMetrics:
    """Add problem+json errors, request safety and observability to ``app``; return its metrics.

    Middleware, outermost first: correlation id and EventContext → metrics and
    access log → security headers → CORS → error boundary → body limit → JSON
    values no database stores alike (422, see :mod:`lamina.api.json_input`). With
    several worker processes (``PROMETHEUS_MULTIPROC_DIR``), ``/metrics`` shows every
    worker's metrics (see :mod:`lamina.api.metrics`). Routes
    ``/healthz``, ``/readyz`` and ``/metrics`` are added, and the OpenAPI
    document describes 422 answers as problems. Call once, before the app starts.
    """
    settings = settings if settings is not None else ApiSettings()
    if hasattr(app.state, _METRICS_STATE):
        raise RuntimeError("lamina.api.install() was already called on this app")
    metrics = ApiMetrics()
    setattr(app.state, _METRICS_STATE, metrics)

    register_problem_handlers(app)
    app.include_router(
        observability_router(
            metrics=metrics if settings.expose_metrics else None,
            readiness_checks=settings.readiness_checks,
            readiness_timeout_seconds=settings.readiness_timeout_seconds,
        )
    )
    # add_middleware puts each new one outside the previous: innermost first.
    app.add_middleware(JsonInputMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ErrorBoundaryMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=settings.cors_allow_methods,
            allow_headers=settings.cors_allow_headers,
            allow_credentials=settings.cors_allow_credentials,
            expose_headers=settings.cors_expose_headers,
            max_age=settings.cors_max_age_seconds,
        )
    serve_docs_offline(app)
    if settings.security_headers:
        app.add_middleware(SecurityHeadersMiddleware, docs_paths=_docs_paths(app))
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access_log=settings.access_log)
    app.add_middleware(RequestContextMiddleware)
    _document_problems(app)
    if metrics.shared is not None:
        _share_metrics_while_running(app, metrics)
    return metrics


def _share_metrics_while_running(app: FastAPI, metrics: ApiMetrics) -> None:
    """Run :meth:`ApiMetrics.share_periodically` for as long as the app's lifespan lasts."""
    lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def sharing(running: Any) -> AsyncIterator[Any]:
        task = asyncio.create_task(metrics.share_periodically())
        try:
            async with lifespan(running) as state:
                yield state
        finally:
            await cancel_and_wait(task)

    app.router.lifespan_context = sharing


def metrics_of(app: FastAPI) -> ApiMetrics:
    """The metrics :func:`install` created for ``app`` (to add collectors to its registry)."""
    metrics = getattr(app.state, _METRICS_STATE, None)
    if not isinstance(metrics, ApiMetrics):
        raise LookupError("lamina.api.install() was not called on this app")
    return metrics


def _docs_paths(app: FastAPI) -> set[str]:
    paths = {app.docs_url, app.redoc_url}
    if app.docs_url and app.swagger_ui_oauth2_redirect_url:
        paths.add(app.swagger_ui_oauth2_redirect_url)
    return {path for path in paths if path}


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers do: 422 is a problem, not FastAPI's shape."""
    build_openapi = app.openapi
    patched: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = build_openapi()
        if not patched or patched[0] is not schema:
            _document_text_rule(schema)  # before the problem schemas: problems echo any input
            _use_problem_schema(schema)
            patched[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


NO_NUL_PATTERN = "^[^\\x00]*$"
"""Text without NUL characters: what every database stores (see :mod:`lamina.api.json_input`)."""

_CHARSET_FORMATS = frozenset(
    {"email", "uuid", "date-time", "date", "time", "duration", "uri", "ipv4", "ipv6", "binary"}
)


def _document_text_rule(node: Any) -> None:
    """Give every free text of the document (a string without a pattern, or with a format
    that does not restrict its characters) the pattern that says NUL is refused."""
    if isinstance(node, list):
        for item in node:
            _document_text_rule(item)
        return
    if not isinstance(node, dict):
        return
    free_text = (
        node.get("type") == "string"
        and "pattern" not in node
        and "enum" not in node
        and "const" not in node
        and node.get("format") not in _CHARSET_FORMATS
    )
    if free_text:
        node["pattern"] = NO_NUL_PATTERN
    for value in node.values():
        _document_text_rule(value)


def _use_problem_schema(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_json = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_json.pop("$defs", {}))
    components["Problem"] = problem_json
    problem_content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    fastapi_ref = "#/components/schemas/HTTPValidationError"
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422", {})
            content = response.get("content", {})
            if content.get("application/json", {}).get("schema", {}).get("$ref") == fastapi_ref:
                response["content"] = problem_content
    for unused in ("HTTPValidationError", "ValidationError"):  # the first refers to the second
        if unused in components and f'"#/components/schemas/{unused}"' not in json.dumps(schema):
            del components[unused]
