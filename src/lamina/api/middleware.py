"""Request safety: a body size limit, security headers, and a last line of defence for errors.

All are plain ASGI middleware (not ``BaseHTTPMiddleware``): they add no task
per request and do not buffer, so streamed responses (SSE) pass straight through.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamina.api.docs import DOCS_CONTENT_SECURITY_POLICY
from lamina.api.problems import PayloadTooLarge, error_response
from lamina.api.request_context import adding_missing_headers

API_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""For API responses: they are data, never documents that load anything."""


class SecurityHeadersMiddleware:
    """Adds security headers to every response that does not set them itself.

    ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
    ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store`` and a
    Content-Security-Policy: the strict API policy, or the docs policy on
    ``docs_paths`` (paths relative to the app's root path).
    """

    def __init__(self, app: ASGIApp, *, docs_paths: Collection[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store"),
        ]
        csp = b"content-security-policy"
        self._api_headers = [*common, (csp, API_CONTENT_SECURITY_POLICY.encode("ascii"))]
        self._docs_headers = [*common, (csp, DOCS_CONTENT_SECURITY_POLICY.encode("ascii"))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self._docs_headers if _app_path(scope) in self.docs_paths else self._api_headers
        await self.app(scope, receive, adding_missing_headers(send, added))


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_body_bytes`` with a 413 problem.

    A declared ``Content-Length`` over the limit is refused before the app
    runs; a body without one (chunked) is counted as it streams in, and the
    read that crosses the limit raises :class:`~lamina.api.PayloadTooLarge`.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes cannot be negative")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(Request(scope), PayloadTooLarge(limit))
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        # PayloadTooLarge raised mid-read becomes a 413 in ErrorBoundaryMiddleware,
        # which install() puts right around this one.
        await self.app(scope, limited_receive, send)


class ErrorBoundaryMiddleware:
    """Answers an exception that escapes the app with a problem: 503 for an outage, else 500.

    The exception is logged with the correlation id; its text never reaches
    the client. It sits inside CORS and the header middleware, so the error
    response carries their headers too. Once a response has started (a
    stream), the exception is re-raised for the server to close the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:
                raise
            await error_response(Request(scope), exc)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _app_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
