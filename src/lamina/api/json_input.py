"""Refuse JSON that no database stores alike: lone surrogates, NUL characters, NaN and Infinity.

Python's ``json`` accepts all of them, but they do not survive the trip to a
database the same way: a lone UTF-16 surrogate (``"\\ud800"``) cannot be
encoded as UTF-8 at all (an error deep in serialization), PostgreSQL refuses
a NUL in text and ``NaN`` in JSON while SQLite stores them (or turns them into
``null``). :class:`JsonInputMiddleware` answers such a body with the same 422
problem (G11), naming where the value is, before any route sees it.

Cheap for the bodies that have none of them: the raw bytes are searched for
the only spellings that can produce one (``\\u`` escapes, ``NaN``,
``Infinity``, exponents of three digits); only a body containing one of those
is parsed and walked.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lamina.api.problems import error_response

_SUSPECT = re.compile(rb"\\u|NaN|Infinity|[0-9][eE][+-]?[0-9]{3}")


class _Refused(ValueError):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _no_constants(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number", "finite_number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(f"{text} is too large for a number", "finite_number")
    return value


def json_text_problem(body: bytes) -> dict[str, Any] | None:
    """The first value of JSON ``body`` no database stores alike, as a validation error
    (``loc``, ``msg``, ``type``), or None. Invalid JSON is None too: the route reports it."""
    if _SUSPECT.search(body) is None:
        return None
    try:
        value = json.loads(body, parse_constant=_no_constants, parse_float=_finite)
    except _Refused as refused:
        return {"loc": ("body",), "msg": str(refused), "type": refused.kind}
    except ValueError:
        return None
    return _first_bad_text(value, ("body",))


def _first_bad_text(value: Any, where: tuple[str | int, ...]) -> dict[str, Any] | None:
    if isinstance(value, str):
        return _text_problem(value, where)
    if isinstance(value, dict):
        for key, item in value.items():
            found = _text_problem(key, where) or _first_bad_text(item, (*where, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_bad_text(item, (*where, index))
            if found is not None:
                return found
    return None


def _text_problem(text: str, where: tuple[str | int, ...]) -> dict[str, Any] | None:
    if "\x00" in text:
        return {"loc": where, "msg": "text must not contain NUL characters", "type": "string_nul"}
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        message = "text must not contain unpaired surrogates (\\ud800-\\udfff)"
        return {"loc": where, "msg": message, "type": "string_surrogate"}
    return None


class JsonInputMiddleware:
    """Answers a JSON request body holding a value of :func:`json_text_problem` with a 422.

    Bodies the app would parse as JSON (a JSON content type, or none) are read
    whole (the body limit still applies: install it outside this one) and
    handed on unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _json_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending it all
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_text_problem(body)
        if problem is not None:
            response = error_response(Request(scope), RequestValidationError([problem]))
            await response(scope, receive, send)
            return
        replayed: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([replayed], receive), send)


def _json_body(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind: bytes = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return True


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replaying() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replaying
