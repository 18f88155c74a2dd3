"""Register, log in, use, expire and revoke tokens over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from auth_app import AccountRepository, AccountRow, ClientFactory, MutableClock, build_app
from sqlalchemy import select

from lamina.api import PROBLEM_MEDIA_TYPE
from lamina.persistence import Database, where
from lamina.persistence.tables import access_tokens
from lamina.security import (
    Argon2Parameters,
    LoginThrottle,
    PasswordHasher,
    RateLimit,
    TokenStore,
)

PASSWORD = "correct horse battery staple"


def registration(username: str, **changes: Any) -> dict[str, Any]:
    body = {
        "username": username,
        "email": f"{username}@example.com",
        "display_name": username.title(),
        "password": PASSWORD,
    }
    return {**body, **changes}


async def register(client: httpx.AsyncClient, username: str, **changes: Any) -> dict[str, Any]:
    response = await client.post("/auth/register", json=registration(username, **changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def log_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, **form: str
) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"username": username, "password": password, **form}
    )


async def token_of(client: httpx.AsyncClient, username: str) -> str:
    response = await log_in(client, username)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + code)
    assert body["status"] == status
    return body


async def test_register_log_in_me_log_out(db: Database, client_for: ClientFactory) -> None:
    async with client_for(build_app(db)) as client:
        created = await register(client, "alice")
        assert created["username"] == "alice"
        assert set(created) == {"id", "username", "email", "display_name"}

        response = await log_in(client, "alice")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 1800
        assert response.headers["cache-control"] == "no-store"
        token = body["access_token"]

        me = await client.get("/users/me", headers=bearer(token))
        assert me.status_code == 200
        assert me.json() == created

        logout = await client.post("/auth/logout", headers=bearer(token))
        assert logout.status_code == 204
        assert logout.content == b""

        after = await client.get("/users/me", headers=bearer(token))
        problem = assert_problem(after, 401, "unauthenticated")
        assert "revoked" in problem["detail"]
        assert after.headers["www-authenticate"] == "Bearer"
        again = await client.post("/auth/logout", headers=bearer(token))
        assert_problem(again, 401, "unauthenticated")


async def test_the_principal_becomes_the_actor_of_the_request(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        created = await register(client, "alice")
        token = await token_of(client, "alice")
        response = await client.get("/whoami", headers=bearer(token))
        assert response.json() == {"user_id": created["id"], "actor_id": created["id"]}


async def test_an_optional_principal_is_none_without_credentials_and_checked_with_them(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        created = await register(client, "alice")
        token = await token_of(client, "alice")

        anonymous = await client.get("/maybe-whoami")
        known = await client.get("/maybe-whoami", headers=bearer(token))
        await client.post("/auth/logout", headers=bearer(token))
        revoked = await client.get("/maybe-whoami", headers=bearer(token))

        assert anonymous.json() == {"user_id": None}
        assert known.json() == {"user_id": created["id"]}
        assert_problem(revoked, 401, "unauthenticated")


async def test_register_rejects_duplicates_naming_the_field(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        await register(client, "alice")
        same_name = await client.post(
            "/auth/register", json=registration("alice", email="other@example.com")
        )
        assert assert_problem(same_name, 409, "already-exists")["fields"] == ["username"]
        same_email = await client.post(
            "/auth/register", json=registration("alice2", email="alice@example.com")
        )
        assert assert_problem(same_email, 409, "already-exists")["fields"] == ["email"]
    assert await AccountRepository(db).count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "x" * 257}, "password"),
        ({"username": "Bad Name!"}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"is_admin": True}, "is_admin"),
        ({"password_hash": "$argon2id$forged"}, "password_hash"),
    ],
)
async def test_register_rejects_invalid_input(
    db: Database, client_for: ClientFactory, changes: dict[str, Any], field: str
) -> None:
    async with client_for(build_app(db)) as client:
        response = await client.post("/auth/register", json={**registration("alice"), **changes})
        body = assert_problem(response, 422, "invalid-input")
        assert any(error["field"].endswith(field) for error in body["errors"])
        assert "x" * 257 not in response.text
    assert await AccountRepository(db).count() == 0


async def test_the_database_holds_only_argon2_hashes(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        for name in ("alice", "bob"):
            await register(client, name)
        tokens = [await token_of(client, name) for name in ("alice", "bob")]
    async with db.engine.connect() as conn:
        accounts = (await conn.execute(select(AccountRow.__table__))).all()
        token_rows = (await conn.execute(select(access_tokens))).all()
    assert len(accounts) == 2
    for row in accounts:
        assert row.password_hash.startswith("$argon2id$v=19$")
        assert all(PASSWORD not in str(value) for value in row)
    assert len(token_rows) == 2
    for row in token_rows:
        assert all(token not in str(value) for token in tokens for value in row)
    history = await AccountRepository(db).history(accounts[0].id)
    assert history[0].changes["password_hash"][1] == "***"


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        await register(client, "alice")
        wrong = await log_in(client, "alice", "not the password")
        unknown = await log_in(client, "nobody", "not the password")
        empty = await log_in(client, "", "x")
    body = assert_problem(wrong, 401, "unauthenticated")
    assert body == assert_problem(unknown, 401, "unauthenticated")
    assert body["detail"] == "incorrect username or password"
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"
    assert empty.status_code in (401, 422)


async def test_wrong_password_and_unknown_user_take_similar_time(
    db: Database, client_for: ClientFactory
) -> None:
    # A cost that dominates the request, so skipping the hash would show.
    hasher = PasswordHasher(Argon2Parameters(time_cost=2, memory_cost_kib=16_384, parallelism=1))
    roomy = LoginThrottle(
        db, per_pair=RateLimit(1000, 60), per_address=RateLimit(1000, 60), slowdown=None
    )
    app = build_app(db, passwords=hasher, throttle=roomy)
    async with client_for(app) as client:
        await register(client, "alice")

        async def timed(username: str) -> float:
            start = time.perf_counter()
            response = await log_in(client, username, "not the password")
            elapsed = time.perf_counter() - start
            assert response.status_code == 401
            return elapsed

        for name in ("alice", "nobody"):  # warm up both paths (the dummy hash is made once)
            await timed(name)
        wrong, unknown = [], []
        for _ in range(7):
            wrong.append(await timed("alice"))
            unknown.append(await timed("nobody"))
        start = time.perf_counter()
        await hasher.verify_unknown("x")
        one_verification = time.perf_counter() - start

    wrong_median, unknown_median = statistics.median(wrong), statistics.median(unknown)
    assert min(wrong_median, unknown_median) >= one_verification * 0.5
    difference = abs(wrong_median - unknown_median) / max(wrong_median, unknown_median)
    assert difference < 0.4, (wrong, unknown)


async def test_an_expired_token_gets_401(
    db: Database, client_for: ClientFactory, clock: MutableClock
) -> None:
    async with client_for(build_app(db, clock=clock, ttl=timedelta(minutes=10))) as client:
        await register(client, "alice")
        token = await token_of(client, "alice")
        assert (await client.get("/users/me", headers=bearer(token))).status_code == 200
        clock.advance(timedelta(minutes=10))
        response = await client.get("/users/me", headers=bearer(token))
        assert "expired" in assert_problem(response, 401, "unauthenticated")["detail"]


async def test_tokens_revoked_everywhere_get_401(db: Database, client_for: ClientFactory) -> None:
    tokens = TokenStore(db)
    async with client_for(build_app(db, tokens=tokens)) as client:
        created = await register(client, "alice")
        first, second = await token_of(client, "alice"), await token_of(client, "alice")
        await client.post("/auth/logout", headers=bearer(first))
        assert (await client.get("/users/me", headers=bearer(second))).status_code == 200
        assert await tokens.revoke_all(UUID(created["id"])) == 1
        response = await client.get("/users/me", headers=bearer(second))
        assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
        {"Authorization": "Bearer ' OR '1'='1"},
        {"Authorization": "Bearer " + "A" * 5000},
    ],
)
async def test_missing_or_bad_credentials_get_401(
    db: Database, client_for: ClientFactory, headers: dict[str, str]
) -> None:
    async with client_for(build_app(db)) as client:
        paths = ["/users/me", "/whoami"] + (["/maybe-whoami"] if headers else [])
        for path in paths:
            response = await client.get(path, headers=headers)
            assert_problem(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer"
        logout = await client.post("/auth/logout", headers=headers)
        assert_problem(logout, 401, "unauthenticated")


async def test_repeated_failures_get_429_with_retry_after(
    db: Database, client_for: ClientFactory
) -> None:
    throttle = LoginThrottle(
        db, per_pair=RateLimit(3, 60), per_address=RateLimit(10, 60), slowdown=None
    )
    async with client_for(build_app(db, throttle=throttle)) as client:
        await register(client, "alice")
        for _ in range(3):
            assert (await log_in(client, "alice", "guess")).status_code == 401
        throttled = await log_in(client, "alice", "guess")
        body = assert_problem(throttled, 429, "rate-limited")
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert body["retry_after"] == int(throttled.headers["retry-after"])
        # while throttled, even the right password is refused
        assert_problem(await log_in(client, "alice"), 429, "rate-limited")
        # unknown accounts are throttled alike (no hint that they do not exist)
        for _ in range(3):
            assert (await log_in(client, "ghost", "guess")).status_code == 401
        assert_problem(await log_in(client, "ghost", "guess"), 429, "rate-limited")


async def test_one_address_guessing_many_accounts_gets_429(
    db: Database, client_for: ClientFactory
) -> None:
    throttle = LoginThrottle(
        db, per_pair=RateLimit(5, 60), per_address=RateLimit(4, 60), slowdown=None
    )
    app = build_app(db, throttle=throttle)
    async with client_for(app, address="203.0.113.9") as attacker:
        await register(attacker, "alice")
        for name in ("ann", "ben", "cat", "dan"):
            assert (await log_in(attacker, name, "guess")).status_code == 401
        assert_problem(await log_in(attacker, "eve", "guess"), 429, "rate-limited")
    async with client_for(app, address="198.51.100.7") as someone_else:
        assert (await log_in(someone_else, "alice")).status_code == 200


async def test_a_successful_login_clears_the_account_failures(
    db: Database, client_for: ClientFactory
) -> None:
    throttle = LoginThrottle(db, per_pair=RateLimit(3, 60), per_address=None, slowdown=None)
    async with client_for(build_app(db, throttle=throttle)) as client:
        await register(client, "alice")
        for _ in range(2):
            assert (await log_in(client, "alice", "guess")).status_code == 401
        assert (await log_in(client, "alice")).status_code == 200
        for _ in range(2):
            assert (await log_in(client, "alice", "guess")).status_code == 401
        assert (await log_in(client, "alice")).status_code == 200


async def test_scopes_are_granted_and_enforced(db: Database, client_for: ClientFactory) -> None:
    async with client_for(build_app(db)) as client:
        alice = await register(client, "alice")
        await register(client, "bob")
        found = await AccountRepository(db).list(where("username") == "alice")
        await AccountRepository(db).update(found[0].id, {"is_admin": True})

        bob_token = await token_of(client, "bob")
        denied = await client.get("/admin/stats", headers=bearer(bob_token))
        assert_problem(denied, 403, "permission-denied")

        admin_login = await log_in(client, "alice")
        assert admin_login.json()["scope"] == "admin"
        admin = await client.get("/admin/stats", headers=bearer(admin_login.json()["access_token"]))
        assert admin.status_code == 200
        assert admin.json() == {"accounts": 2}

        narrowed = await log_in(client, "alice", scope="")
        assert narrowed.json()["scope"] == "admin"
        unrelated = await log_in(client, "alice", scope="reports")
        assert "scope" not in unrelated.json()
        refused = await client.get("/admin/stats", headers=bearer(unrelated.json()["access_token"]))
        assert_problem(refused, 403, "permission-denied")
        assert alice["username"] == "alice"


async def test_outdated_hashes_are_upgraded_at_login(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        await register(client, "alice")
    stronger = PasswordHasher(Argon2Parameters(time_cost=2, memory_cost_kib=2048, parallelism=1))
    async with client_for(build_app(db, passwords=stronger)) as client:
        (before,) = await AccountRepository(db).list()
        assert before.password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
        assert (await log_in(client, "alice")).status_code == 200
        (after,) = await AccountRepository(db).list()
        assert after.password_hash.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
        assert (await log_in(client, "alice")).status_code == 200


async def test_docs_authorize_uses_the_oauth2_password_flow(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        schema = (await client.get("/openapi.json")).json()
        schemes = schema["components"]["securitySchemes"]
        (name, scheme), *others = schemes.items()
        assert others == []
        assert scheme["type"] == "oauth2"
        assert scheme["flows"]["password"]["tokenUrl"] == "/auth/token"
        assert scheme["flows"]["password"]["scopes"] == {"admin": "administer the service"}
        assert schema["paths"]["/users/me"]["get"]["security"] == [{name: []}]
        assert schema["paths"]["/admin/stats"]["get"]["security"] == [{name: ["admin"]}]
        token_form = schema["paths"]["/auth/token"]["post"]["requestBody"]["content"]
        assert "application/x-www-form-urlencoded" in token_form
        register_schema = schema["paths"]["/auth/register"]["post"]
        assert "201" in register_schema["responses"]
        assert "409" in register_schema["responses"]

        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "swagger-ui" in docs.text
        assert "oauth2RedirectUrl" in docs.text

        # What the Authorize dialog sends: the password grant, as a form, with client fields.
        await register(client, "alice")
        authorize = await client.post(
            "/auth/token",
            data={
                "grant_type": "password",
                "username": "alice",
                "password": PASSWORD,
                "scope": "",
                "client_id": "",
                "client_secret": "",
            },
        )
        assert authorize.status_code == 200, authorize.text
        token = authorize.json()["access_token"]
        assert (await client.get("/users/me", headers=bearer(token))).status_code == 200

        wrong_grant = await client.post(
            "/auth/token",
            data={"grant_type": "client_credentials", "username": "alice", "password": PASSWORD},
        )
        assert_problem(wrong_grant, 422, "invalid-input")
