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
(:mod:`lamina.api.schemas`), ETags (:mod:`lamina.api.etags`), safe list
queries (:mod:`lamina.api.list_query`), the audit history and the resource's
actions (:mod:`lamina.api.actions`).
"""

from lamina.api.actions import IfMatch, ResourceAction
from lamina.api.app import ApiSettings, install, metrics_of
from lamina.api.create_many import CreateMany
from lamina.api.etags import (
    etag,
    expected_version,
    if_match_parameter_doc,
    optional_version,
    required_version,
)
from lamina.api.list_query import CURSOR_PATTERN, ListQuery, ListRequest, only_parameters
from lamina.api.logging import (
    JsonLogFormatter,
    PlainLogFormatter,
    configure_logging,
    log_config,
    mask_sensitive,
)
from lamina.api.metrics import MULTIPROCESS_DIR_VAR, ApiMetrics, DatabaseMetrics
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
from lamina.api.resources import (
    DEFAULT_ROUTES,
    AuditEntryPage,
    Route,
    provide_service,
    resource_router,
)
from lamina.api.schemas import (
    Count,
    RequestBody,
    ResourceSchemas,
    check_input_schema,
    create_schema,
    output_schema,
    page_schema,
    update_schema,
)
from lamina.api.service_app import service_app
from lamina.api.serving import DemoData, serve
from lamina.api.sse import (
    EventStreamResponse,
    EventStreams,
    default_event_data,
    parse_last_event_id,
)
from lamina.api.wiring import Resources

__all__ = [
    "CURSOR_PATTERN",
    "DEFAULT_ROUTES",
    "MULTIPROCESS_DIR_VAR",
    "PROBLEM_MEDIA_TYPE",
    "ApiMetrics",
    "ApiSettings",
    "AuditEntryPage",
    "Count",
    "CreateMany",
    "DatabaseMetrics",
    "DemoData",
    "EventStreamResponse",
    "EventStreams",
    "IfMatch",
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
    "RequestBody",
    "ResourceAction",
    "ResourceSchemas",
    "Resources",
    "Route",
    "check_input_schema",
    "configure_logging",
    "create_schema",
    "default_event_data",
    "error_response",
    "etag",
    "expected_version",
    "if_match_parameter_doc",
    "install",
    "log_config",
    "map_error_status",
    "mask_sensitive",
    "metrics_of",
    "only_parameters",
    "optional_version",
    "output_schema",
    "page_schema",
    "parse_last_event_id",
    "problem_response",
    "problem_responses",
    "problem_type",
    "provide_service",
    "register_problem_handlers",
    "required_version",
    "resource_router",
    "serve",
    "service_app",
    "update_request_context",
    "update_schema",
]
