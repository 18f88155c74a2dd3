"""The correlation id of each request, and the EventContext it runs in.

:class:`RequestContextMiddleware` takes the id from ``X-Request-ID`` or
``X-Correlation-ID`` (when it is short and made of safe characters; otherwise a
new one is made), echoes it on the response, and makes
``EventContext(correlation_id=...)`` current for the whole request, so units of
work, audit entries, events and log lines carry it without being passed it.

Authentication fills in the actor afterwards with :func:`update_request_context`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamina.domain.context import EventContext, replace_context, use_context
from lamina.domain.ids import uuid7

REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id")
"""Request headers a correlation id is taken from, in order of preference."""

_HEADER_KEYS = tuple(name.encode("latin-1") for name in REQUEST_ID_HEADERS)
MAX_REQUEST_ID_LENGTH = 128
_SAFE_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID_LENGTH}}}")


def accepted_request_id(value: str | None) -> str | None:
    """``value`` if it is a usable correlation id (1-128 of ``A-Z a-z 0-9 . _ : -``), else None."""
    if value is None or _SAFE_REQUEST_ID.fullmatch(value) is None:
        return None
    return value


def peek_context() -> EventContext | None:
    """The EventContext in force, or None; unlike ``EventContext.current()`` it creates none."""
    return EventContext.peek()


def update_request_context(**changes: Any) -> EventContext:
    """Replace fields of the current EventContext for the rest of the request.

    Authentication calls it once it knows who is calling::

        async def current_user(token: str = Depends(oauth2)) -> User:
            user = await users.by_token(token)
            update_request_context(actor_id=user.id, tenant_id=user.tenant_id)
            return user

    Call it from an ``async def`` dependency or endpoint: FastAPI runs plain
    ``def`` ones in a worker thread, on a copy of the context, and the change
    would not reach the endpoint. The change ends with the request.
    """
    context = EventContext.current().with_changes(**changes)
    replace_context(context)
    return context


def adding_missing_headers(send: Send, added: Sequence[tuple[bytes, bytes]]) -> Send:
    """``send`` that adds ``added`` to the response's headers, except names already set."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers.extend(header for header in added if header[0] not in present)
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


class RequestContextMiddleware:
    """Gives each HTTP request a correlation id and an EventContext of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header_name, correlation_id = _incoming_request_id(scope)
        echoed = [(header_name, correlation_id.encode("latin-1"))]
        with use_context(EventContext(correlation_id=correlation_id)):
            await self.app(scope, receive, adding_missing_headers(send, echoed))


def _incoming_request_id(scope: Scope) -> tuple[bytes, str]:
    """The header to echo the id in, and the id: the client's if acceptable, else a new one."""
    headers = dict(scope["headers"])  # ASGI header names are lower case
    for key in _HEADER_KEYS:
        raw = headers.get(key)
        if raw is not None:
            return key, accepted_request_id(raw.decode("latin-1")) or str(uuid7())
    return _HEADER_KEYS[0], str(uuid7())
