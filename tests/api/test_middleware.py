"""Request safety: correlation ids in the EventContext, body limit, security headers, CORS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.types import Message

from lamina.api import (
    PROBLEM_MEDIA_TYPE,
    ApiSettings,
    install,
    update_request_context,
)
from lamina.api.request_context import peek_context
from lamina.domain import EventContext

ACTOR = uuid4()


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def authenticate() -> UUID:
    update_request_context(actor_id=ACTOR)
    return ACTOR


def make_app(**settings: Any) -> FastAPI:
    app = FastAPI()
    install(app, ApiSettings(access_log=False, **settings))

    @app.get("/context")
    async def context() -> dict[str, str | None]:
        current = EventContext.current()
        actor = None if current.actor_id is None else str(current.actor_id)
        return {"correlation_id": current.correlation_id, "actor_id": actor}

    @app.get("/me")
    async def me(actor: UUID = Depends(authenticate)) -> dict[str, str | None]:
        current = EventContext.current()
        return {"correlation_id": current.correlation_id, "actor_id": str(current.actor_id)}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.post("/json")
    async def json_body(payload: dict[str, str]) -> dict[str, int]:
        return {"keys": len(payload)}

    @app.get("/cached")
    async def cached() -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse({"ok": True}, headers={"Cache-Control": "max-age=60"})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


async def test_the_incoming_request_id_is_echoed_and_is_the_correlation_id() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/context", headers={"X-Request-ID": "abc-123.x:y_z"})
    assert response.headers["x-request-id"] == "abc-123.x:y_z"
    assert response.json()["correlation_id"] == "abc-123.x:y_z"


async def test_a_correlation_id_header_is_accepted_and_echoed_under_its_own_name() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/context", headers={"X-Correlation-ID": "corr-1"})
    assert response.headers["x-correlation-id"] == "corr-1"
    assert response.json()["correlation_id"] == "corr-1"


async def test_without_an_id_one_is_generated_per_request() -> None:
    async with client_for(make_app()) as client:
        first = await client.get("/context")
        second = await client.get("/context")
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2
    assert first.json()["correlation_id"] == first.headers["x-request-id"]
    assert all(UUID(value) for value in ids)


@pytest.mark.parametrize(
    "bad_id", ["x" * 129, "", "has space", "<script>", "semi;colon", "ünïcode", "a/b"]
)
async def test_an_unsafe_incoming_id_is_replaced(bad_id: str) -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/context", headers=[(b"X-Request-ID", bad_id.encode())])
    echoed = response.headers["x-request-id"]
    assert echoed != bad_id
    assert UUID(echoed)
    assert response.json()["correlation_id"] == echoed


async def test_the_context_ends_with_the_request() -> None:
    async with client_for(make_app()) as client:
        await client.get("/me", headers={"X-Request-ID": "short-lived"})
    assert peek_context() is None


async def test_authentication_sets_the_actor_for_the_rest_of_the_request() -> None:
    async with client_for(make_app()) as client:
        authenticated = await client.get("/me", headers={"X-Request-ID": "with-actor"})
        anonymous = await client.get("/context")
    assert authenticated.json() == {"correlation_id": "with-actor", "actor_id": str(ACTOR)}
    assert anonymous.json()["actor_id"] is None


async def test_a_body_declared_over_the_limit_is_refused_before_the_endpoint_runs() -> None:
    app = make_app(max_body_bytes=100)
    calls: list[int] = []

    @app.post("/count")
    async def count(request: Request) -> None:
        calls.append(len(await request.body()))

    async with client_for(app) as client:
        response = await client.post("/count", content=b"x" * 101)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == "https://lamina.dev/problems/payload-too-large"
    assert body["max_body_bytes"] == 100
    assert calls == []


async def chunks(total: int, size: int = 64) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("path", ["/echo", "/json"])
async def test_a_chunked_body_over_the_limit_is_refused(path: str) -> None:
    async with client_for(make_app(max_body_bytes=1000)) as client:
        response = await client.post(path, content=chunks(5000))
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["type"] == "https://lamina.dev/problems/payload-too-large"


async def test_a_body_longer_than_its_declared_length_is_counted_and_refused() -> None:
    async with client_for(make_app(max_body_bytes=1000)) as client:
        response = await client.post(
            "/echo", content=chunks(5000), headers={"Content-Length": "10"}
        )
    assert response.status_code == 413


async def test_a_body_up_to_the_limit_is_accepted() -> None:
    async with client_for(make_app(max_body_bytes=1000)) as client:
        exact = await client.post("/echo", content=b"x" * 1000)
        streamed = await client.post("/echo", content=chunks(1000))
    assert exact.json() == {"received": 1000}
    assert streamed.json() == {"received": 1000}


@pytest.mark.parametrize("path", ["/context", "/nowhere", "/boom"])
async def test_security_headers_are_on_every_response(path: str) -> None:
    async with client_for(make_app()) as client:
        response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "x-request-id" in response.headers


async def test_security_headers_are_on_a_refused_body_too() -> None:
    async with client_for(make_app(max_body_bytes=1)) as client:
        response = await client.post("/echo", content=b"xx")
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-request-id" in response.headers


async def test_an_endpoint_keeps_its_own_cache_control() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/cached")
    assert response.headers["cache-control"] == "max-age=60"


async def test_the_docs_page_gets_a_policy_that_lets_it_load() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline';" in policy  # its own assets and start-up script
    assert "frame-ancestors 'none'" in policy
    assert "/_lamina/docs/swagger-ui-bundle.js" in response.text


async def test_security_headers_can_be_turned_off() -> None:
    async with client_for(make_app(security_headers=False)) as client:
        response = await client.get("/context")
    assert "content-security-policy" not in response.headers


async def test_cors_answers_preflight_only_for_configured_origins() -> None:
    app = make_app(cors_origins=("https://app.example",))
    preflight = {
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "if-match",
    }
    async with client_for(app) as client:
        allowed = await client.options(
            "/context", headers={"Origin": "https://app.example", **preflight}
        )
        refused = await client.options(
            "/context", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = await client.get("/context", headers={"Origin": "https://app.example"})
        failed = await client.get("/boom", headers={"Origin": "https://app.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "PUT" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert failed.status_code == 500
    assert failed.headers["access-control-allow-origin"] == "https://app.example"


async def test_without_cors_origins_no_cors_headers_are_sent() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/context", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


def test_credentials_cannot_be_allowed_for_every_origin() -> None:
    with pytest.raises(ValidationError, match="explicit origins"):
        ApiSettings(cors_origins=("*",), cors_allow_credentials=True)


def test_settings_are_read_from_the_environment() -> None:
    settings = ApiSettings.from_env(
        {
            "LAMINA_API_MAX_BODY_BYTES": "2048",
            "LAMINA_API_CORS_ORIGINS": "https://a.example, https://b.example",
            "LAMINA_API_ACCESS_LOG": "false",
        },
        expose_metrics=False,
    )
    assert settings.max_body_bytes == 2048
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.access_log is False
    assert settings.expose_metrics is False


async def test_a_streamed_response_is_passed_on_chunk_by_chunk() -> None:
    """The middleware must not buffer: the second chunk is produced only after the first left."""
    app = make_app()
    first_chunk_sent = asyncio.Event()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b"data: 1\n\n"
            await asyncio.wait_for(first_chunk_sent.wait(), timeout=2)
            yield b"data: 2\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == b"data: 1\n\n":
            first_chunk_sent.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/stream",
        "raw_path": b"/stream",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    bodies = [m.get("body") for m in sent if m["type"] == "http.response.body"]
    assert b"data: 1\n\n" in bodies
    assert b"data: 2\n\n" in bodies
    assert sent[0]["status"] == 200
