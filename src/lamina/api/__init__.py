"""The HTTP layer: problem+json errors, request safety, observability and resource routers.

One call wires the cross-cutting parts onto a FastAPI app::

    from lamina.api import ApiSettings, install

    app = FastAPI()
    install(app, ApiSettings(readiness_checks={"database": database.ping}))

Errors are RFC 9457 problems (:mod:`lamina.api.problems`); each request gets
a correlation id and an EventContext (:mod:`lamina.api.request_context`), a
body size limit and security headers (:mod:`lamina.api.middleware`), metrics,
an access log line and ``/healthz``, ``/readyz``, ``/metrics``
(:mod:`lamina.api.observability`, :mod:`lamina.api.metrics`); logs can be JSON
lines (:mod:`lamina.api.logging`). :func:`resource_router` mounts the routes of
a service (:mod:`lamina.api.resources`) with schemas derived from its entity
(:mod:`lamina.api.schemas`), ETags (:mod:`lamina.api.etags`) and safe list
queries (:mod:`lamina.api.list_query`).
"""

from lamina.api.app import ApiSettings, install, metrics_of
from lamina.api.etags import etag, expected_version
from lamina.api.list_query import ListQuery, ListRequest
from lamina.api.logging import (
    JsonLogFormatter,
    PlainLogFormatter,
    configure_logging,
    log_config,
    mask_sensitive,
)
from lamina.api.metrics import ApiMetrics, DatabaseMetrics
from lamina.api.nesting import Parent
from lamina.api.observability import ReadinessCheck
from lamina.api.problems import (
    PROBLEM_MEDIA_TYPE,
    PayloadTooLarge,
    PreconditionRequired,
    Problem,
    ProblemResponse,
    error_response,
    map_error_status,
    problem_response,
    problem_responses,
    problem_type,
    register_problem_handlers,
)
from lamina.api.request_context import update_request_context
from lamina.api.resources import DEFAULT_ROUTES, Route, provide_service, resource_router
from lamina.api.schemas import (
    Count,
    ResourceSchemas,
    check_input_schema,
    create_schema,
    output_schema,
    page_schema,
    update_schema,
)
from lamina.api.sse import EventStreamResponse, EventStreams, parse_last_event_id

__all__ = [
    "DEFAULT_ROUTES",
    "PROBLEM_MEDIA_TYPE",
    "ApiMetrics",
    "ApiSettings",
    "Count",
    "DatabaseMetrics",
    "EventStreamResponse",
    "EventStreams",
    "JsonLogFormatter",
    "ListQuery",
    "ListRequest",
    "Parent",
    "PayloadTooLarge",
    "PlainLogFormatter",
    "PreconditionRequired",
    "Problem",
    "ProblemResponse",
    "ReadinessCheck",
    "ResourceSchemas",
    "Route",
    "check_input_schema",
    "configure_logging",
    "create_schema",
    "error_response",
    "etag",
    "expected_version",
    "install",
    "log_config",
    "map_error_status",
    "mask_sensitive",
    "metrics_of",
    "output_schema",
    "page_schema",
    "parse_last_event_id",
    "problem_response",
    "problem_responses",
    "problem_type",
    "provide_service",
    "register_problem_handlers",
    "resource_router",
    "update_request_context",
    "update_schema",
]
