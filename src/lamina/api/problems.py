"""Errors as RFC 9457 problem details: every error a client sees has one shape.

A problem body is ``application/problem+json``::

    {"type": "https://lamina.dev/problems/not-found", "title": "Not found",
     "status": 404, "detail": "Order 42 not found", "instance": "/orders/42",
     "entity": "Order", "id": "42"}

``type`` is stable per error class: it is built from the error's ``code``.
The error's :meth:`~lamina.domain.DomainError.details` become extension
members. Nothing else ever reaches the client: an unexpected exception gives a
500 with a generic detail (the exception is logged with the correlation id),
and a database outage gives 503 with ``Retry-After``.

This module maps domain errors only: the persistence layer turns database
errors into them (:mod:`lamina.persistence.errors`), so a broken database rule
has one status whatever the database:

* unique → ``already-exists``, 409, ``fields`` names the fields;
* foreign key → ``reference-missing``, 422, when a write refers to a row that
  does not exist; ``conflict``, 409, when a hard delete hits a row others
  still refer to;
* CHECK → ``invalid-input``, 422, with ``constraint`` naming the rule and
  ``errors`` the field it covers (when it covers one), as a rule checked by
  Pydantic on that field gives;
* an outage (connection refused or lost, a database that stays locked) → 503.

:func:`register_problem_handlers` installs all of this on a FastAPI app;
:func:`map_error_status` maps an application's own error classes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lamina.api.request_context import peek_context
from lamina.domain.errors import (
    CONSEQUENTIAL_ERROR,
    AlreadyExists,
    Conflict,
    ConstraintViolated,
    DecryptionFailed,
    DomainError,
    EncryptionKeyMissing,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReferenceMissing,
    Unauthenticated,
    Unavailable,
    VersionConflict,
)
from lamina.persistence.errors import database_error_types, outage_error

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://lamina.dev/problems/"
HANDLED_ERROR_SCOPE_KEY = "lamina.handled_error"
"""Scope key under which a handler leaves the exception it answered (read by metrics)."""

DEFAULT_RETRY_AFTER_SECONDS = 1
"""``Retry-After`` of a 503 from a readiness check that failed without saying when to retry."""
MAX_REPORTED_FIELD_ERRORS = 50
_MAX_FIELD_CHARS = 200
_MAX_LOCATION_PART_CHARS = 64
_MAX_MESSAGE_CHARS = 300
_RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})

logger = logging.getLogger("lamina.api.errors")


class ProblemFieldError(BaseModel):
    """One problem with one input field; ``field`` is a dotted path (``body.items.0.name``)."""

    field: str
    message: str


class Problem(BaseModel):
    """The body of every error response (RFC 9457), as documented in OpenAPI.

    Members beyond the standard five are extensions, for example ``errors``
    (per-field problems of invalid input) or ``fields`` (of already-exists).
    """

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None


class ProblemResponse(JSONResponse):
    """A JSON response with the ``application/problem+json`` media type."""

    media_type = PROBLEM_MEDIA_TYPE


class PreconditionRequired(DomainError):
    """A write needs a precondition (``If-Match``) the request did not carry: 428."""

    code = "precondition-required"

    def __init__(self, message: str = "this request must carry an If-Match header") -> None:
        super().__init__(message)


class PayloadTooLarge(HTTPException):
    """The request body is larger than ``limit`` bytes: 413."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


_STATUS_BY_ERROR: dict[type[DomainError], int] = {
    DomainError: 400,
    NotFound: 404,
    Conflict: 409,
    AlreadyExists: 409,
    VersionConflict: 409,
    # The reference is part of the request and names nothing: the request is
    # unprocessable as sent (422), not in conflict with the target resource (409).
    ReferenceMissing: 422,
    InvalidInput: 400,
    # A broken CHECK is a rule on the input, as a Pydantic rule is: 422 like theirs.
    ConstraintViolated: 422,
    PermissionDenied: 403,
    Unauthenticated: 401,
    RateLimited: 429,
    Unavailable: 503,
    # A value the keyring cannot open: the service's configuration, not the request, is at fault.
    EncryptionKeyMissing: 503,
    DecryptionFailed: 503,
    PreconditionRequired: 428,
}

_CODE_BY_HTTP_STATUS: dict[int, str] = {
    400: "bad-request",
    401: "unauthenticated",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    428: "precondition-required",
    429: "rate-limited",
    503: "unavailable",
}


def problem_type(code: str) -> str:
    """The ``type`` URI of the problem with this code (``not-found`` → ``…/problems/not-found``)."""
    return PROBLEM_TYPE_BASE + code


def problem_title(code: str) -> str:
    """The human title of the problem with this code (``not-found`` → ``Not found``)."""
    return code.replace("-", " ").capitalize()


def problem_response(
    status: int,
    code: str | None = None,
    *,
    detail: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """A problem+json response.

    ``code`` names the problem type (``"not-found"``); without it the type is
    ``about:blank`` and the title the HTTP reason phrase, as RFC 9457 says.
    Extension members never replace the five standard ones.
    """
    body: dict[str, Any] = {}
    if extensions:
        body.update((k, v) for k, v in extensions.items() if k not in _RESERVED_MEMBERS)
    body["type"] = problem_type(code) if code else "about:blank"
    body["title"] = problem_title(code) if code else _reason_phrase(status)
    body["status"] = status
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    return ProblemResponse(jsonable_encoder(body), status_code=status, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem bodies for these statuses.

    >>> @router.get("/orders/{id}", responses=problem_responses(404))

    The referenced ``Problem`` schema is added to the document by :func:`~lamina.api.install`.
    """
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {
            "description": _reason_phrase(status),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        for status in statuses
    }


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def map_error_status(error: type[DomainError], status: int) -> None:
    """Answer ``error`` and its subclasses with HTTP ``status`` (400-599).

    The problem ``type`` still comes from the class's ``code``. Call at import
    time, for an application's own error classes.
    """
    if not 400 <= status <= 599:
        raise ValueError(f"an error status must be 4xx or 5xx, not {status}")
    _STATUS_BY_ERROR[error] = status


def error_status(error: DomainError, request: Request | None = None) -> int:
    """The HTTP status of ``error``; a version conflict is 412 when the request had If-Match."""
    if isinstance(error, VersionConflict) and request and "if-match" in request.headers:
        return 412
    for cls in type(error).__mro__:
        if issubclass(cls, DomainError) and cls in _STATUS_BY_ERROR:
            return _STATUS_BY_ERROR[cls]
    return 400


def domain_error_response(request: Request, error: DomainError) -> ProblemResponse:
    """The problem response for a domain error (status, type, headers, details)."""
    headers: dict[str, str] = {}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(max(retry_after, 0))
    return problem_response(
        error_status(error, request),
        error.code,
        detail=error.message,
        instance=request.url.path,
        headers=headers,
        extensions=error.details(),
    )


def error_response(request: Request, exc: BaseException) -> Response:
    """The response for any exception, as the installed handlers would answer it.

    For code that must answer an error itself, for example before a stream
    starts. Unexpected exceptions are logged here with the correlation id.
    """
    request.scope[HANDLED_ERROR_SCOPE_KEY] = exc
    if isinstance(exc, DomainError):
        return domain_error_response(request, exc)
    if isinstance(exc, HTTPException):
        return _http_exception_response(request, exc)
    if isinstance(exc, RequestValidationError):
        return _validation_error_response(request, exc)
    return _unexpected_error_response(request, exc)


async def _handle(request: Request, exc: Exception) -> Response:
    return error_response(request, exc)


def register_problem_handlers(app: FastAPI) -> None:
    """Answer every exception of ``app`` with a problem response.

    Covers :class:`~lamina.domain.DomainError` and subclasses, HTTP exceptions
    (unknown route, method not allowed…), request validation (422), database
    outages (503 with ``Retry-After``) and anything else (500, logged).
    Handlers for database errors are registered for the drivers loaded at the
    time of the call; :func:`~lamina.api.install` also answers errors of any
    driver loaded later, from its error boundary.
    """
    handled = (DomainError, HTTPException, RequestValidationError, *database_error_types())
    for exc_class in handled:
        app.add_exception_handler(exc_class, _handle)
    app.add_exception_handler(Exception, _handle)


def _http_exception_response(request: Request, exc: HTTPException) -> Response:
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) else None
    extensions = {"max_body_bytes": exc.limit} if isinstance(exc, PayloadTooLarge) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return problem_response(
        exc.status_code,
        _CODE_BY_HTTP_STATUS.get(exc.status_code),
        detail=detail,
        instance=request.url.path,
        headers=headers,
        extensions=extensions,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method the app's OpenAPI document lists at this path (Starlette's own 405
    names those of one route only, when several routes share a path: GET and POST)."""
    build = getattr(request.scope.get("app"), "openapi", None)
    if build is None:
        return []
    methods: set[str] = set()
    for template, operations in build().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), request.url.path):
            methods.update(method.upper() for method in operations)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _validation_error_response(request: Request, exc: RequestValidationError) -> Response:
    raw = [e for e in exc.errors() if e.get("type") != CONSEQUENTIAL_ERROR]
    shown = [_field_error(err) for err in raw[:MAX_REPORTED_FIELD_ERRORS]]
    detail = f"the request is invalid ({len(raw)} error{'s' if len(raw) != 1 else ''})"
    if len(raw) > len(shown):
        detail += f"; the first {len(shown)} are listed"
    return problem_response(
        422,
        "invalid-input",
        detail=detail,
        instance=request.url.path,
        extensions={"errors": shown},
    )


def _field_error(error: Any) -> dict[str, str]:
    """``{field, message}`` of one pydantic error, bounded, without the input value."""
    parts = error.get("loc", ()) if isinstance(error, Mapping) else ()
    field = ".".join(_clip(str(part), _MAX_LOCATION_PART_CHARS) for part in parts)
    message = error.get("msg", "invalid value") if isinstance(error, Mapping) else str(error)
    return {
        "field": _clip(field, _MAX_FIELD_CHARS),
        "message": _clip(str(message), _MAX_MESSAGE_CHARS),
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unexpected_error_response(request: Request, exc: BaseException) -> Response:
    log_extra = {"method": request.method, "path": request.url.path}
    outage = outage_error(exc)
    if outage is not None:
        logger.warning(
            "a dependency is unavailable: %s", type(exc).__name__, exc_info=exc, extra=log_extra
        )
        return domain_error_response(request, outage)
    logger.error("unhandled %s", type(exc).__name__, exc_info=exc, extra=log_extra)
    context = peek_context()
    return problem_response(
        500,
        "internal-error",
        detail="an unexpected error occurred; quote the correlation id when reporting it",
        instance=request.url.path,
        extensions={"correlation_id": context.correlation_id} if context else None,
    )
