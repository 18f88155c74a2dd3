"""Stream tickets over HTTP: how a browser's EventSource authenticates, once, for seconds."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from auth_app import ClientFactory, MutableClock, build_app
from test_auth_http import assert_problem, bearer, register, token_of

from lamina.persistence import Database

STREAM = "/stream-whoami"


async def test_a_ticket_opens_one_stream_as_its_user(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        alice = await register(client, "alice")
        token = await token_of(client, "alice")

        issued = await client.post("/events/ticket", headers=bearer(token))
        assert issued.status_code == 200, issued.text
        assert issued.json()["expires_in"] == 30
        ticket = issued.json()["ticket"]
        opened = await client.get(STREAM, params={"ticket": ticket})
        reused = await client.get(STREAM, params={"ticket": ticket})

        assert opened.json() == {"user_id": alice["id"]}
        assert_problem(reused, 401, "unauthenticated")
        assert_problem(await client.post("/events/ticket"), 401, "unauthenticated")


async def test_an_expired_ticket_is_refused(db: Database, client_for: ClientFactory) -> None:
    clock = MutableClock()
    async with client_for(build_app(db, clock=clock)) as client:
        await register(client, "alice")
        token = await token_of(client, "alice")
        ticket = (await client.post("/events/ticket", headers=bearer(token))).json()["ticket"]

        clock.advance(timedelta(seconds=31))

        assert_problem(await client.get(STREAM, params={"ticket": ticket}), 401, "unauthenticated")


async def test_g16_a_ticket_of_a_revoked_token_or_another_user_is_refused(
    db: Database, client_for: ClientFactory
) -> None:
    async with client_for(build_app(db)) as client:
        await register(client, "alice")
        await register(client, "bob")
        alice, bob = await token_of(client, "alice"), await token_of(client, "bob")
        for_bob = (await client.post("/events/ticket", headers=bearer(alice))).json()["ticket"]
        after_logout = (await client.post("/events/ticket", headers=bearer(alice))).json()
        await client.post("/auth/logout", headers=bearer(alice))

        stolen = await client.get(STREAM, params={"ticket": for_bob}, headers=bearer(bob))
        revoked = await client.get(STREAM, params={"ticket": after_logout["ticket"]})

        assert_problem(stolen, 401, "unauthenticated")
        assert_problem(revoked, 401, "unauthenticated")


@pytest.mark.parametrize("query", ["access_token", "token", "ticket"])
async def test_a_token_in_the_url_opens_nothing(
    db: Database, client_for: ClientFactory, query: str
) -> None:
    async with client_for(build_app(db)) as client:
        await register(client, "alice")
        token = await token_of(client, "alice")

        response = await client.get(STREAM, params={query: token})

        assert_problem(response, 401, "unauthenticated")


async def test_no_ticket_or_token_reaches_the_access_log(
    db: Database, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with client_for(build_app(db, access_log=True)) as client:
        await register(client, "alice")
        token = await token_of(client, "alice")
        ticket = (await client.post("/events/ticket", headers=bearer(token))).json()["ticket"]
        await client.get(STREAM, params={"ticket": ticket})
        await client.get(STREAM, params={"ticket": ticket})

    service_lines = [
        caplog.handler.format(r) for r in caplog.records if r.name.startswith("lamina")
    ]
    assert any(STREAM in line for line in service_lines)
    assert not [line for line in service_lines if ticket in line or token in line]


async def test_a_page_of_a_configured_origin_gets_tickets_and_streams_across_origins(
    db: Database, client_for: ClientFactory
) -> None:
    origin = {"Origin": "https://chat.example"}
    async with client_for(build_app(db, cors_origins=("https://chat.example",))) as client:
        await register(client, "alice")
        token = await token_of(client, "alice")

        preflight = await client.options(
            "/events/ticket",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        issued = await client.post("/events/ticket", headers={**origin, **bearer(token)})
        opened = await client.get(
            STREAM, params={"ticket": issued.json()["ticket"]}, headers=origin
        )
        elsewhere = await client.options(
            "/events/ticket",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://chat.example"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert issued.headers["access-control-allow-origin"] == "https://chat.example"
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == "https://chat.example"
    assert "access-control-allow-origin" not in elsewhere.headers
