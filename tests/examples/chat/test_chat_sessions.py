"""G16 over HTTP: logging out ends the open streams of the token; a cap on streams per user."""

from __future__ import annotations

import time

import httpx
from chat_testkit import reading, serving, user_on


async def test_g16_logout_ends_the_open_stream_of_the_token_within_seconds(
    chat_url: str,
) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
        reading(base, alice) as alice_stream,
        reading(base, bob) as bob_stream,
    ):
        started = time.monotonic()
        await alice.ok("POST", "/auth/logout", 204)
        await alice_stream.ended()
        assert time.monotonic() - started < 5
        assert alice_stream.notices == [
            ("unauthorized", {"reason": "revoked", "last_event_id": None})
        ]
        # The revoked token opens no new stream; bob's stream goes on.
        again = await alice.call("GET", "/events", headers={"Accept": "text/event-stream"})
        assert again.status_code == 401
        await bob.ok("POST", "/workspaces", 201, json={"name": "still here"})
        await bob_stream.wait_for(lambda e: e.type == "workspace.created")


async def test_a_user_holds_at_most_the_configured_number_of_streams(chat_url: str) -> None:
    async with (
        serving(chat_url, max_streams_per_user=2) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
        reading(base, alice),
        reading(base, alice),
        reading(base, bob),
    ):
        third = await alice.call("GET", "/events")
        assert third.status_code == 429
        assert third.headers["content-type"] == "application/problem+json"
        assert "Retry-After" in third.headers


async def test_g16_a_browser_stream_opened_with_a_ticket_is_live_and_ends_at_logout(
    chat_url: str,
) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        httpx.AsyncClient(base_url=base) as browser,
    ):
        ticket = (await alice.ok("POST", "/events/ticket"))["ticket"]
        async with reading(base, alice, ticket=ticket) as stream:
            reused = await browser.get("/events", params={"ticket": ticket})
            await alice.ok("POST", "/workspaces", 201, json={"name": "by ticket"})
            await stream.wait_for(lambda e: e.type == "workspace.created")
            await alice.ok("POST", "/auth/logout", 204)
            await stream.ended()

        assert reused.status_code == 401
        last = stream.events[-1].id
        assert stream.notices == [("unauthorized", {"reason": "revoked", "last_event_id": last})]
