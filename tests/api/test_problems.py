"""Errors become RFC 9457 problem+json: a stable type per error class, no internals leaked."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from lamina.api import (
    PROBLEM_MEDIA_TYPE,
    ApiSettings,
    PreconditionRequired,
    install,
    map_error_status,
    problem_response,
    problem_responses,
    register_problem_handlers,
)
from lamina.domain import (
    AlreadyExists,
    Conflict,
    ConstraintViolated,
    DomainError,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReferenceMissing,
    Unauthenticated,
    Unavailable,
    VersionConflict,
)

SECRET = "s3cr3t-connection-string-postgres://admin:hunter2@db"


class SeatTaken(Conflict):
    code = "seat-taken"


class PaymentRequired(DomainError):
    code = "payment-required"


map_error_status(PaymentRequired, 402)


def client_for(app: FastAPI, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def raising_app(error: BaseException) -> FastAPI:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))

    @app.api_route("/orders/{order_id}", methods=["GET", "PUT"])
    async def order(order_id: int) -> dict[str, int]:
        raise error

    return app


DOMAIN_CASES: list[tuple[DomainError, int, str, dict[str, Any]]] = [
    (NotFound("Order", 42), 404, "not-found", {"entity": "Order", "id": "42"}),
    (AlreadyExists("User", ["email"]), 409, "already-exists", {"fields": ["email"]}),
    (Conflict("the call has already ended"), 409, "conflict", {}),
    (SeatTaken("seat 4A is taken"), 409, "seat-taken", {}),
    (
        VersionConflict("Order", 7, expected=1, actual=2),
        409,
        "version-conflict",
        {"expected_version": 1, "actual_version": 2},
    ),
    (
        ReferenceMissing("Order", ["customer_id"]),
        422,
        "reference-missing",
        {"fields": ["customer_id"]},
    ),
    (
        InvalidInput("bad order", [FieldError("quantity", "must be positive")]),
        400,
        "invalid-input",
        {"errors": [{"field": "quantity", "message": "must be positive"}]},
    ),
    (
        ConstraintViolated("Order", "ck_orders_quantity_positive", ["quantity"]),
        422,
        "invalid-input",
        {
            "constraint": "ck_orders_quantity_positive",
            "errors": [
                {"field": "quantity", "message": "breaks the rule ck_orders_quantity_positive"}
            ],
        },
    ),
    (PermissionDenied("only owners may do this"), 403, "permission-denied", {}),
    (Unauthenticated("the token has expired"), 401, "unauthenticated", {}),
    (RateLimited("too many attempts", retry_after=30), 429, "rate-limited", {"retry_after": 30}),
    (Unavailable("the database is down", retry_after=5), 503, "unavailable", {"retry_after": 5}),
    (PreconditionRequired(), 428, "precondition-required", {}),
    (PaymentRequired("the plan has expired"), 402, "payment-required", {}),
]


@pytest.mark.parametrize(("error", "status", "code", "details"), DOMAIN_CASES)
async def test_each_domain_error_is_a_problem_of_its_own_type(
    error: DomainError, status: int, code: str, details: dict[str, Any]
) -> None:
    async with client_for(raising_app(error)) as client:
        response = await client.get("/orders/7")

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == f"https://lamina.dev/problems/{code}"
    assert body["title"] == code.replace("-", " ").capitalize()
    assert body["status"] == status
    assert body["detail"] == error.message
    assert body["instance"] == "/orders/7"
    assert details.items() <= body.items()


async def test_unauthenticated_asks_for_a_bearer_token() -> None:
    async with client_for(raising_app(Unauthenticated("no token"))) as client:
        response = await client.get("/orders/1")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [(RateLimited("slow down", retry_after=30), "30"), (Unavailable("down", retry_after=5), "5")],
)
async def test_retryable_errors_say_when_to_retry(error: DomainError, retry_after: str) -> None:
    async with client_for(raising_app(error)) as client:
        response = await client.get("/orders/1")
    assert response.headers["retry-after"] == retry_after


async def test_version_conflict_is_412_when_the_request_carried_if_match() -> None:
    app = raising_app(VersionConflict("Order", 1, expected=3, actual=4))
    async with client_for(app) as client:
        with_precondition = await client.put("/orders/1", headers={"If-Match": '"3"'})
        without = await client.put("/orders/1")
    assert with_precondition.status_code == 412
    assert with_precondition.json()["type"] == "https://lamina.dev/problems/version-conflict"
    assert without.status_code == 409


async def test_an_unexpected_exception_is_a_500_that_reveals_nothing() -> None:
    app = raising_app(RuntimeError(SECRET))
    async with client_for(app) as client:
        response = await client.get("/orders/1", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == "https://lamina.dev/problems/internal-error"
    assert body["correlation_id"] == "req-500"
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text
    assert "raising_app" not in response.text


async def test_an_unexpected_exception_is_logged_with_the_correlation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = raising_app(RuntimeError(SECRET))
    with caplog.at_level("ERROR", logger="lamina.api.errors"):
        async with client_for(app) as client:
            await client.get("/orders/1", headers={"X-Request-ID": "req-logged"})
    [record] = [r for r in caplog.records if r.name == "lamina.api.errors"]
    assert record.exc_info is not None
    assert SECRET in str(record.exc_info[1])
    assert record.__dict__["path"] == "/orders/1"


async def test_problem_handlers_alone_answer_an_unexpected_exception_with_a_problem() -> None:
    app = FastAPI()
    register_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    async with client_for(app, raise_app_exceptions=False) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert SECRET not in response.text


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    quantity: int


def validating_app() -> FastAPI:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))

    @app.post("/orders", responses=problem_responses(409))
    async def create(order: OrderIn, limit: int = 10) -> dict[str, str]:
        return {"name": order.name}

    return app


async def test_a_request_validation_error_is_a_422_problem_with_field_errors() -> None:
    async with client_for(validating_app()) as client:
        response = await client.post(
            "/orders", params={"limit": "many"}, json={"quantity": "x", "id": 1}
        )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == "https://lamina.dev/problems/invalid-input"
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"query.limit", "body.name", "body.quantity", "body.id"}
    assert all(set(error) == {"field", "message"} for error in body["errors"])


async def test_a_validation_error_never_echoes_a_huge_input() -> None:
    huge_value = "9" * 5000 + "x"
    huge_key = "k" * 5000
    async with client_for(validating_app()) as client:
        response = await client.post(
            "/orders", json={"name": "a", "quantity": huge_value, huge_key: 1}
        )
    assert response.status_code == 422
    assert huge_value[:200] not in response.text
    assert huge_key[:100] not in response.text
    assert len(response.content) < 2000


async def test_malformed_json_is_a_422_problem() -> None:
    async with client_for(validating_app()) as client:
        response = await client.post(
            "/orders", content=b'{"name": ', headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["type"] == "https://lamina.dev/problems/invalid-input"


async def test_too_many_validation_errors_are_listed_up_to_a_bound() -> None:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))

    @app.post("/bulk")
    async def bulk(orders: list[OrderIn]) -> int:
        return len(orders)

    async with client_for(app) as client:
        response = await client.post("/bulk", json=[{}] * 200)
    body = response.json()
    assert response.status_code == 422
    assert len(body["errors"]) == 50
    assert "400 errors" in body["detail"]


async def test_unknown_route_and_wrong_method_are_problems() -> None:
    async with client_for(validating_app()) as client:
        missing = await client.get("/nowhere")
        wrong_method = await client.delete("/orders")

    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert missing.json()["type"] == "https://lamina.dev/problems/not-found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "https://lamina.dev/problems/method-not-allowed"
    assert "POST" in wrong_method.headers["allow"]


async def test_an_http_exception_keeps_its_status_detail_and_headers() -> None:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout", headers={"X-Teapot": "yes"})

    async with client_for(app) as client:
        response = await client.get("/teapot")
    assert response.status_code == 418
    assert response.headers["x-teapot"] == "yes"
    assert response.json() == {
        "type": "about:blank",
        "title": "I'm a Teapot",
        "status": 418,
        "detail": "short and stout",
        "instance": "/teapot",
    }


async def test_openapi_documents_validation_errors_as_problems() -> None:
    async with client_for(validating_app()) as client:
        document = (await client.get("/openapi.json")).json()

    responses = document["paths"]["/orders"]["post"]["responses"]
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    assert responses["422"]["content"] == {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}}
    assert responses["409"]["content"] == {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}}
    schemas = document["components"]["schemas"]
    assert {"type", "title", "status"} <= set(schemas["Problem"]["required"])
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas


def database_app(url: str, statement: str) -> FastAPI:
    app = FastAPI()
    install(app, ApiSettings(access_log=False))
    engine = create_async_engine(url, connect_args={"timeout": 0} if "sqlite" in url else {})

    @app.post("/write")
    async def write() -> None:
        try:
            async with engine.begin() as connection:
                for part in statement.split(";"):
                    await connection.execute(text(part))
        finally:
            await engine.dispose()

    return app


async def test_a_database_that_refuses_connections_gives_503_with_retry_after() -> None:
    app = database_app("postgresql+asyncpg://lamina@127.0.0.1:1/closed", "SELECT 1")
    async with client_for(app) as client:
        response = await client.post("/write")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "https://lamina.dev/problems/unavailable"
    assert "127.0.0.1" not in response.text


async def test_a_locked_sqlite_database_gives_503(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        app = database_app(f"sqlite+aiosqlite:///{path}", "INSERT INTO t VALUES (1)")
        async with client_for(app) as client:
            response = await client.post("/write")
    finally:
        holder.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


async def test_a_database_bug_is_a_500_not_an_outage(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    app = database_app(url, "INSERT INTO nope VALUES (1)")
    async with client_for(app) as client:
        response = await client.post("/write")
    assert response.status_code == 500
    assert "nope" not in response.text


@pytest.mark.postgres_only
async def test_g15_a_lock_wait_past_its_timeout_gives_503_not_500(db_url: str) -> None:
    holder = create_async_engine(db_url)
    async with holder.begin() as connection:
        await connection.execute(text("CREATE TABLE IF NOT EXISTS t_held (x INTEGER)"))
    app = database_app(db_url, "SET LOCAL lock_timeout = '50ms'; LOCK TABLE t_held")
    try:
        async with holder.begin() as connection, client_for(app) as client:
            await connection.execute(text("LOCK TABLE t_held"))
            response = await client.post("/write")
    finally:
        async with holder.begin() as connection:
            await connection.execute(text("DROP TABLE t_held"))
        await holder.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


@pytest.mark.postgres_only
async def test_a_connection_lost_mid_request_gives_503(db_url: str) -> None:
    engine = create_async_engine(db_url)
    killer = create_async_engine(db_url)
    app = FastAPI()
    install(app, ApiSettings(access_log=False))

    @app.get("/lost")
    async def lost() -> None:
        async with engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with killer.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await connection.execute(text("SELECT 1"))

    try:
        async with client_for(app) as client:
            response = await client.get("/lost")
    finally:
        await engine.dispose()
        await killer.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


def test_a_problem_without_a_code_is_about_blank_even_for_an_unusual_status() -> None:
    response = problem_response(599, detail="upstream gave up")
    assert response.status_code == 599
    assert bytes(response.body).startswith(b'{"type":"about:blank","title":"Error","status":599')


def test_error_classes_map_only_to_error_statuses() -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        map_error_status(PaymentRequired, 302)
