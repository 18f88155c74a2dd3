"""G11: JSON values no database stores alike are a 422 before any route runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from lamina.api import PROBLEM_MEDIA_TYPE, ApiSettings, install

JSON = {"Content-Type": "application/json"}


def make_app() -> tuple[FastAPI, list[Any]]:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    received: list[Any] = []

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        received.append(body)
        return body

    return app, received


async def post(app: FastAPI, raw: bytes, headers: dict[str, str] = JSON) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post("/echo", content=raw, headers=headers)


@pytest.mark.parametrize(
    ("raw", "field", "kind"),
    [
        (b'{"title": "\\ud800"}', "body.title", "surrogate"),
        (b'{"meta": {"deep": ["ok", "\\udfff x"]}}', "body.meta.deep.1", "surrogate"),
        (b'{"\\ud83d": 1}', "body", "surrogate"),
        (b'{"title": "a\\u0000b"}', "body.title", "NUL"),
        (b'{"n": NaN}', "body", "NaN"),
        (b'{"n": [1, -Infinity]}', "body", "Infinity"),
        (b'{"n": 1e999}', "body", "too large"),
    ],
)
async def test_g11_values_no_database_stores_alike_are_a_422(
    raw: bytes, field: str, kind: str
) -> None:
    app, received = make_app()
    response = await post(app, raw)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert kind in error["message"]
    assert received == []  # the route never ran


@pytest.mark.parametrize(
    "raw",
    [
        b'{"emoji": "\\ud83d\\ude00", "text": "NaN and Infinity", "big": 1e300}',
        b'{"escaped": "\\\\u0000 is six characters", "e": "1e999"}',
        '{"plain": "caf\u00e9 \U0001f600"}'.encode(),
    ],
)
async def test_ordinary_json_passes_unchanged(raw: bytes) -> None:
    app, received = make_app()
    response = await post(app, raw)
    assert response.status_code == 200
    assert received == [response.json()]


async def test_bodies_that_are_not_json_are_left_to_the_route() -> None:
    app, received = make_app()
    form = await post(app, b"title=%00", {"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422  # the route's own validation: a dict body is required
    broken = await post(app, b'{"n": NaN')  # invalid JSON: the route's usual 422
    assert broken.status_code == 422
    assert received == []
