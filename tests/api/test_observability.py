"""Health, readiness, Prometheus metrics and JSON logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import Gauge
from pydantic import BaseModel

from lamina.api import (
    PROBLEM_MEDIA_TYPE,
    ApiSettings,
    JsonLogFormatter,
    ReadinessCheck,
    configure_logging,
    install,
    mask_sensitive,
    metrics_of,
)
from lamina.domain import (
    MASK,
    EventContext,
    InvalidInput,
    Unavailable,
    VersionConflict,
    use_context,
)
from lamina.persistence.instrumentation import DatabaseStats, record_query


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


class Note(BaseModel):
    text: str


def make_app(checks: dict[str, ReadinessCheck] | None = None, **settings: Any) -> FastAPI:
    app = FastAPI()
    install(app, ApiSettings(readiness_checks=checks or {}, **settings))

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/queries")
    async def queries() -> None:
        record_query(DatabaseStats(), seconds=0.002, statements=3)

    @app.put("/stale")
    async def stale() -> None:
        raise VersionConflict("Item", 1, expected=1, actual=2)

    @app.get("/rule")
    async def rule() -> None:
        raise InvalidInput.for_field("name", "taken")

    @app.post("/notes")
    async def notes(note: Note) -> Note:
        return note

    return app


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Lines the JSON formatter writes for lamina's loggers during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    lamina_logger = logging.getLogger("lamina")
    previous_level = lamina_logger.level
    lamina_logger.addHandler(handler)
    lamina_logger.setLevel(logging.INFO)
    yield stream
    lamina_logger.removeHandler(handler)
    lamina_logger.setLevel(previous_level)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_healthz_answers_without_checking_anything() -> None:
    async def never_ready() -> None:
        raise Unavailable("down")

    async with client_for(make_app({"database": never_ready})) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_every_check_passes() -> None:
    calls: list[str] = []

    async def database() -> None:
        calls.append("database")

    async with client_for(make_app({"database": database})) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert calls == ["database"]


async def test_readyz_is_a_503_problem_with_retry_after_when_a_check_fails() -> None:
    async def database() -> None:
        raise Unavailable("the database does not answer", retry_after=7)

    async def cache() -> None:
        return None

    async with client_for(make_app({"database": database, "cache": cache})) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"] == "7"
    body = response.json()
    assert body["type"] == "https://lamina.dev/problems/unavailable"
    assert body["checks"] == {"database": "unavailable", "cache": "ok"}


async def test_readyz_reports_driver_errors_timeouts_and_bugs_without_their_text() -> None:
    async def refused() -> None:
        raise ConnectionRefusedError("connect call failed ('10.0.0.5', 5432)")

    async def slow() -> None:
        await asyncio.sleep(5)

    async def broken() -> None:
        raise RuntimeError("password=hunter2")

    app = make_app(
        {"database": refused, "queue": slow, "search": broken}, readiness_timeout_seconds=0.05
    )
    async with client_for(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "unavailable",
        "queue": "timeout",
        "search": "failed",
    }
    assert "hunter2" not in response.text
    assert "10.0.0.5" not in response.text


async def test_metrics_count_requests_by_route_template_not_raw_path() -> None:
    async with client_for(make_app()) as client:
        await client.get("/items/1")
        await client.get("/items/2")
        await client.get("/items/not-a-number")
        await client.get("/nowhere/123")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    item = 'method="GET",route="/items/{item_id}"'
    assert f'lamina_http_requests_total{{{item},status="200"}} 2.0' in text
    assert f'lamina_http_requests_total{{{item},status="422"}} 1.0' in text
    assert 'lamina_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert (
        'lamina_http_request_duration_seconds_count{method="GET",route="/items/{item_id}",'
        'status="200"} 2.0'
    ) in text
    assert "/items/1" not in text
    assert "/nowhere/123" not in text


async def test_metrics_observe_database_queries_per_request() -> None:
    async with client_for(make_app()) as client:
        await client.get("/queries")
        await client.get("/items/1")
        text = (await client.get("/metrics")).text
    assert 'lamina_http_request_db_queries_sum{method="GET",route="/queries"} 3.0' in text
    assert 'lamina_http_request_db_queries_sum{method="GET",route="/items/{item_id}"} 0.0' in text
    assert 'lamina_http_request_db_seconds_count{method="GET",route="/queries"} 1.0' in text


async def test_metrics_count_version_conflicts_and_validation_failures() -> None:
    async with client_for(make_app()) as client:
        await client.put("/stale", headers={"If-Match": '"1"'})
        await client.get("/rule")
        await client.post("/notes", json={"text": 1})
        await client.post("/notes", json={"text": "fine"})
        text = (await client.get("/metrics")).text
    assert "lamina_version_conflicts_total 1.0" in text
    assert "lamina_validation_failures_total 2.0" in text
    assert 'lamina_http_requests_total{method="PUT",route="/stale",status="412"} 1.0' in text


async def test_unknown_methods_do_not_become_labels() -> None:
    async with client_for(make_app()) as client:
        await client.request("BREW", "/items/1")
        text = (await client.get("/metrics")).text
    assert 'method="OTHER"' in text
    assert "BREW" not in text


async def test_each_app_has_its_own_registry_and_accepts_more_collectors() -> None:
    first, second = make_app(), make_app()
    connections = Gauge(
        "lamina_sse_connections_open", "Open SSE connections.", registry=metrics_of(first).registry
    )
    connections.set(3)
    async with client_for(first) as one, client_for(second) as other:
        await one.get("/items/1")
        first_text = (await one.get("/metrics")).text
        second_text = (await other.get("/metrics")).text
    assert "lamina_sse_connections_open 3.0" in first_text
    assert "lamina_sse_connections_open" not in second_text
    assert 'route="/items/{item_id}"' not in second_text


async def test_metrics_can_be_left_unexposed() -> None:
    async with client_for(make_app(expose_metrics=False)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 404


def test_install_refuses_to_run_twice_and_metrics_need_install() -> None:
    app = make_app()
    with pytest.raises(RuntimeError, match="already"):
        install(app)
    with pytest.raises(LookupError):
        metrics_of(FastAPI())


async def test_each_request_writes_one_json_access_line(captured_logs: io.StringIO) -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/queries", headers={"X-Request-ID": "access-1"})
    [line] = [entry for entry in log_lines(captured_logs) if entry["logger"] == "lamina.api.access"]
    assert line["level"] == "INFO"
    assert line["message"] == "GET /queries 200"
    assert line["correlation_id"] == response.headers["x-request-id"] == "access-1"
    assert line["method"] == "GET"
    assert line["route"] == "/queries"
    assert line["path"] == "/queries"
    assert line["status"] == 200
    assert line["queries"] == 3
    assert isinstance(line["duration_ms"], float)
    assert datetime.fromisoformat(line["time"]).tzinfo is not None


async def test_the_access_log_can_be_turned_off(captured_logs: io.StringIO) -> None:
    async with client_for(make_app(access_log=False)) as client:
        await client.get("/items/1")
    assert [e for e in log_lines(captured_logs) if e["logger"] == "lamina.api.access"] == []


async def test_an_unhandled_error_is_logged_as_json_with_its_traceback(
    captured_logs: io.StringIO,
) -> None:
    app = make_app()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the real reason")

    async with client_for(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert "the real reason" not in response.text
    [error] = [e for e in log_lines(captured_logs) if e["logger"] == "lamina.api.errors"]
    assert error["level"] == "ERROR"
    assert error["correlation_id"] == "boom-1"
    assert "RuntimeError: the real reason" in error["exception"]


def format_record(**extra: Any) -> dict[str, Any]:
    logger = logging.getLogger("test.json")
    record = logger.makeRecord("test.json", logging.WARNING, __file__, 1, "hi %s", ("you",), None)
    record.__dict__.update(extra)
    parsed: dict[str, Any] = json.loads(JsonLogFormatter().format(record))
    return parsed


def test_json_lines_mask_secrets_wherever_they_are() -> None:
    line = format_record(
        user="ada",
        password="p4ss",
        headers={"Authorization": "Bearer abc", "Set-Cookie": "sid=1", "Accept": "text/html"},
        attempts=[{"api_key": "k-1"}, {"X-Api-Key": "k-2", "client_secret": "cs"}],
        db={"url": "postgresql://x", "db_password": "dbp", "refresh_token": "rt"},
    )
    assert line["message"] == "hi you"
    assert line["level"] == "WARNING"
    assert line["logger"] == "test.json"
    assert line["user"] == "ada"
    assert line["password"] == MASK
    assert line["headers"] == {"Authorization": MASK, "Set-Cookie": MASK, "Accept": "text/html"}
    assert line["attempts"] == [{"api_key": MASK}, {"X-Api-Key": MASK, "client_secret": MASK}]
    assert line["db"] == {"url": "postgresql://x", "db_password": MASK, "refresh_token": MASK}
    text = json.dumps(line)
    for secret in ("p4ss", "Bearer abc", "sid=1", "k-1", "k-2", 'cs"', "dbp", 'rt"'):
        assert secret not in text


def test_json_lines_carry_the_current_context_and_any_value() -> None:
    actor = uuid4()
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    with use_context(EventContext(correlation_id="job-9", actor_id=actor)):
        line = format_record(when=when, ids={uuid4()})
    assert line["correlation_id"] == "job-9"
    assert line["actor_id"] == str(actor)
    assert line["when"] == str(when)
    assert len(line["ids"]) == 1


def test_json_lines_outside_any_context_have_no_correlation_id() -> None:
    line = format_record()
    assert "correlation_id" not in line
    assert line["time"].endswith("Z")


def test_mask_sensitive_leaves_other_values_alone() -> None:
    assert mask_sensitive({"a": 1, "b": [1, {"token": "t"}]}) == {"a": 1, "b": [1, {"token": MASK}]}
    assert mask_sensitive("plain") == "plain"


def test_configure_logging_makes_the_root_logger_write_json() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        configure_logging("DEBUG", stream=stream)
        with use_context(EventContext(correlation_id="cfg-1")):
            logging.getLogger("any.module").debug("configured", extra={"token": "t0k"})
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    [line] = log_lines(stream)
    assert line["message"] == "configured"
    assert line["correlation_id"] == "cfg-1"
    assert line["token"] == MASK
