"""The HTTP layer: problem+json errors, request safety and observability (routers come later).

One call wires the cross-cutting parts onto a FastAPI app::

    from lamina.api import ApiSettings, install

    app = FastAPI()
    install(app, ApiSettings(readiness_checks={"database": database.ping}))

Errors are RFC 9457 problems (:mod:`lamina.api.problems`); each request gets
a correlation id and an EventContext (:mod:`lamina.api.request_context`), a
body size limit and security headers (:mod:`lamina.api.middleware`), metrics,
an access log line and ``/healthz``, ``/readyz``, ``/metrics``
(:mod:`lamina.api.observability`, :mod:`lamina.api.metrics`); logs can be JSON
lines (:mod:`lamina.api.logging`).
"""

from lamina.api.app import ApiSettings, install, metrics_of
from lamina.api.logging import JsonLogFormatter, configure_logging, mask_sensitive
from lamina.api.metrics import ApiMetrics
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

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ApiMetrics",
    "ApiSettings",
    "JsonLogFormatter",
    "PayloadTooLarge",
    "PreconditionRequired",
    "Problem",
    "ProblemResponse",
    "ReadinessCheck",
    "configure_logging",
    "error_response",
    "install",
    "map_error_status",
    "mask_sensitive",
    "metrics_of",
    "problem_response",
    "problem_responses",
    "problem_type",
    "register_problem_handlers",
    "update_request_context",
]
