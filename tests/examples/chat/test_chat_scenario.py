"""The issue's full scenario over HTTP, with a live stream per user (G10 on every id)."""

from __future__ import annotations

from typing import Any

import httpx
from chat_testkit import (
    ChatUser,
    EventReader,
    etag_of,
    eventually,
    fence,
    reading,
    serving,
    user_on,
)

PROBLEM = "application/problem+json"
IF_MATCH_1 = {"If-Match": '"1"'}


def _types_and_subjects(reader: EventReader) -> list[tuple[str, str | None]]:
    """Each event's type and the user it is about (when it names one)."""
    return [(e.type, e.payload.get("user_id")) for e in reader.events]


async def _assert_all_not_found(outsider: ChatUser, ids: dict[str, str], secret: str) -> None:
    """Every route touching the scenario's ids answers the outsider 404, revealing nothing."""
    ws, conv, msg, rec = ids["workspace"], ids["conversation"], ids["message"], ids["recording"]
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/workspaces/{ws}", {}),
        ("PATCH", f"/workspaces/{ws}", {"json": {"name": "mine"}, "headers": {"If-Match": '"1"'}}),
        ("DELETE", f"/workspaces/{ws}", {"headers": {"If-Match": '"1"'}}),
        ("GET", f"/workspaces/{ws}/members", {}),
        ("POST", f"/workspaces/{ws}/members", {"json": {"username": "carol"}}),
        ("DELETE", f"/workspaces/{ws}/members/{ids['bob']}", {"headers": {"If-Match": '"1"'}}),
        ("GET", f"/workspaces/{ws}/conversations", {}),
        ("POST", f"/workspaces/{ws}/conversations", {"json": {"title": "intrusion"}}),
        ("GET", f"/conversations/{conv}", {}),
        ("PATCH", f"/conversations/{conv}", {"json": {"title": "x"}, "headers": IF_MATCH_1}),
        ("DELETE", f"/conversations/{conv}", {"headers": {"If-Match": '"1"'}}),
        ("POST", f"/conversations/{conv}/restore", {}),
        ("GET", f"/conversations/{conv}/history", {}),
        ("GET", f"/conversations/{conv}/participants", {}),
        ("POST", f"/conversations/{conv}/participants", {"json": {"username": "carol"}}),
        ("POST", f"/conversations/{conv}/participants/me/accept", {}),
        ("POST", f"/conversations/{conv}/participants/me/reject", {}),
        ("DELETE", f"/conversations/{conv}/participants/me", {"headers": {"If-Match": '"1"'}}),
        ("GET", f"/conversations/{conv}/messages", {}),
        ("POST", f"/conversations/{conv}/messages", {"json": {"content": "hi"}}),
        ("DELETE", f"/messages/{msg}", {"headers": {"If-Match": '"1"'}}),
        ("GET", f"/conversations/{conv}/recordings", {}),
        ("POST", f"/conversations/{conv}/recordings", {"json": {}}),
        ("POST", f"/recordings/{rec}/end", {}),
    ]
    for method, url, kwargs in attempts:
        response = await outsider.call(method, url, **kwargs)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        assert secret not in response.text


async def test_full_scenario_each_stream_sees_exactly_its_events(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
        user_on(base, "carol") as carol,
        reading(base, alice) as alice_events,
        reading(base, bob) as bob_events,
        reading(base, carol) as carol_events,
    ):
        workspace = await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"})
        ws = workspace["id"]
        assert workspace["owner_id"] == alice.id
        await alice.ok("POST", f"/workspaces/{ws}/members", 201, json={"username": "bob"})
        members = await bob.ok("GET", f"/workspaces/{ws}/members")
        assert {(m["username"], m["role"]) for m in members["items"]} == {
            ("alice", "owner"),
            ("bob", "member"),
        }

        conversation = await alice.ok(
            "POST",
            f"/workspaces/{ws}/conversations",
            201,
            json={"title": "Top secret standup", "modality": "voice"},
        )
        conv = conversation["id"]
        assert conversation["slug"] == "top-secret-standup"
        invited = await alice.ok(
            "POST",
            f"/conversations/{conv}/participants",
            201,
            json={"username": "bob", "initial_message": "join us"},
        )
        assert (invited["status"], invited["initial_message"]) == ("invited", "join us")
        assert (await bob.call("GET", f"/conversations/{conv}/messages")).status_code == 404
        accepted = await bob.ok("POST", f"/conversations/{conv}/participants/me/accept")
        assert accepted["status"] == "active"
        assert accepted["joined_at"] is not None

        first = await alice.ok(
            "POST", f"/conversations/{conv}/messages", 201, json={"content": "hello bob"}
        )
        await bob.ok("POST", f"/conversations/{conv}/messages", 201, json={"content": "hi alice"})
        messages = await alice.ok("GET", f"/conversations/{conv}/messages")
        assert [m["content"] for m in messages["items"]] == ["hello bob", "hi alice"]
        await eventually(  # the activity marker follows the messages' events
            lambda: alice.ok("GET", f"/conversations/{conv}"),
            lambda c: c["last_activity_at"] >= messages["items"][-1]["created_at"],
        )

        recording = await alice.ok(
            "POST",
            f"/conversations/{conv}/recordings",
            201,
            json={"format": "opus", "sample_rate": 48000},
        )
        assert (recording["status"], recording["started_by_id"]) == ("recording", alice.id)
        ended = await bob.ok("POST", f"/recordings/{recording['id']}/end", json={"size_bytes": 10})
        assert ended["status"] == "completed"
        assert ended["duration_ms"] >= 0
        assert ended["ended_at"] >= ended["started_at"]

        expected_alice = [
            ("workspace.created", None),
            ("member.added", bob.id),
            ("conversation.created", None),
            ("participant.invited", bob.id),
            ("participant.accepted", bob.id),
            ("message.posted", None),
            ("message.posted", None),
            ("recording.started", None),
            ("recording.ended", None),
        ]
        await fence(alice, alice_events)
        assert _types_and_subjects(alice_events)[:-1] == expected_alice
        await fence(bob, bob_events)
        assert _types_and_subjects(bob_events)[:-1] == [expected_alice[1], *expected_alice[3:]]
        await fence(carol, carol_events)
        assert carol_events.types == ["workspace.created"]  # only carol's own fence

        positions = [e.id for e in alice_events.events]
        assert positions == sorted(positions)
        posted = [e for e in bob_events.events if e.type == "message.posted"]
        assert posted[0].payload["content"] == "hello bob"
        assert posted[0].data["actor_id"] == alice.id
        started = next(e for e in bob_events.events if e.type == "recording.started")
        assert started.payload["recording_id"] == recording["id"]

        ids = {
            "workspace": ws,
            "conversation": conv,
            "message": first["id"],
            "recording": recording["id"],
            "bob": bob.id,
        }
        await _assert_all_not_found(carol, ids, "Top secret")
        assert (await carol.ok("GET", "/workspaces"))["items"][0]["name"] == "fence of carol"


async def test_stream_resumes_after_last_event_id(chat_url: str) -> None:
    async with serving(chat_url) as base, user_on(base, "alice") as alice:
        async with reading(base, alice) as first:
            workspace = await alice.ok("POST", "/workspaces", 201, json={"name": "One"})
            seen = await first.wait_for(lambda e: e.type == "workspace.created")
        await alice.ok("PATCH", f"/workspaces/{workspace['id']}", json={"name": "Two"},
                       headers={"If-Match": '"1"'})  # fmt: skip
        await alice.ok("POST", "/workspaces", 201, json={"name": "Three"})
        async with reading(base, alice, last_event_id=seen.id) as resumed:
            await fence(alice, resumed)
            assert resumed.types == ["workspace.updated", "workspace.created", "workspace.created"]
            assert resumed.events[0].payload["changes"] == ["name"]
            assert resumed.events[0].id > seen.id


async def test_auth_errors_are_problems(chat_url: str) -> None:
    async with serving(chat_url) as base, httpx.AsyncClient(base_url=base) as anonymous:
        response = await anonymous.get("/workspaces")
        assert response.status_code == 401
        assert response.headers["content-type"].startswith(PROBLEM)
        async with user_on(base, "alice") as alice:
            duplicate = await anonymous.post(
                "/auth/register",
                json={
                    "username": "alice",
                    "email": "other@example.com",
                    "display_name": "Other",
                    "password": "long enough password",
                },
            )
            assert duplicate.status_code == 409
            assert duplicate.json()["fields"] == ["username"]
            wrong = await anonymous.post(
                "/auth/token", data={"username": "alice", "password": "wrong password"}
            )
            assert wrong.status_code == 401
            assert (await alice.call("POST", "/auth/logout")).status_code == 204
            assert (await alice.call("GET", "/users/me")).status_code == 401


async def test_server_owned_fields_and_missing_if_match(chat_url: str) -> None:
    async with serving(chat_url) as base, user_on(base, "alice") as alice:
        owned = await alice.call("POST", "/workspaces", json={"name": "x", "id": alice.id})
        assert owned.status_code == 422
        assert owned.headers["content-type"].startswith(PROBLEM)
        forged = await alice.call("POST", "/workspaces", json={"name": "x", "owner_id": alice.id})
        assert forged.status_code == 422
        created = await alice.call("POST", "/workspaces", json={"name": "Acme"})
        ws = created.json()["id"]
        bad = await alice.call(
            "POST", f"/workspaces/{ws}/conversations", json={"title": "t", "version": 7}
        )
        assert bad.status_code == 422
        no_precondition = await alice.call("PATCH", f"/workspaces/{ws}", json={"name": "y"})
        assert no_precondition.status_code == 428
        assert no_precondition.headers["content-type"].startswith(PROBLEM)
        stale = await alice.call(
            "PATCH", f"/workspaces/{ws}", json={"name": "y"}, headers={"If-Match": '"9"'}
        )
        assert stale.status_code == 412
        fine = await alice.call(
            "PATCH", f"/workspaces/{ws}", json={"name": "y"}, headers=etag_of(created)
        )
        assert fine.status_code == 200
        assert fine.headers["ETag"] == '"2"'
        too_many = await alice.call("GET", "/workspaces", params={"limit": 101})
        assert too_many.status_code == 400


async def test_streams_follow_invitations_leaving_and_removal(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
        reading(base, bob) as bob_events,
    ):
        ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
        added = await alice.ok("POST", f"/workspaces/{ws}/members", 201, json={"username": "bob"})
        conv = (
            await alice.ok("POST", f"/workspaces/{ws}/conversations", 201, json={"title": "T"})
        )["id"]
        await alice.ok("POST", f"/conversations/{conv}/messages", 201, json={"content": "before"})
        participants = f"/conversations/{conv}/participants"
        await alice.ok("POST", participants, 201, json={"username": "bob"})
        await alice.ok("POST", f"/conversations/{conv}/messages", 201, json={"content": "invited"})
        joined = await bob.call("POST", f"{participants}/me/accept")
        await alice.ok("POST", f"/conversations/{conv}/messages", 201, json={"content": "joined"})
        await bob.ok("DELETE", f"{participants}/me", 204, headers=etag_of(joined))
        await alice.ok("POST", f"/conversations/{conv}/messages", 201, json={"content": "left"})
        await alice.ok("PATCH", f"/workspaces/{ws}", json={"name": "Acme 2"},
                       headers={"If-Match": '"1"'})  # fmt: skip
        await alice.ok("DELETE", f"/workspaces/{ws}/members/{bob.id}", 204,
                       headers={"If-Match": f'"{added["version"]}"'})  # fmt: skip
        await alice.ok("PATCH", f"/workspaces/{ws}", json={"name": "Acme 3"},
                       headers={"If-Match": '"2"'})  # fmt: skip
        await fence(bob, bob_events)
        assert bob_events.types[:-1] == [
            "member.added",
            "participant.invited",
            "participant.accepted",
            "message.posted",
            "participant.left",
            "workspace.updated",
            "member.removed",
        ]
        posted = [e.payload["content"] for e in bob_events.events if e.type == "message.posted"]
        assert posted == ["joined"]


async def test_stream_stats_are_for_workspace_owners(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
        user_on(base, "carol") as carol,
        reading(base, bob),
        reading(base, carol),
    ):
        assert (await alice.call("GET", "/events/stats")).status_code == 403
        ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
        await alice.ok("POST", f"/workspaces/{ws}/members", 201, json={"username": "bob"})
        assert (await bob.call("GET", "/events/stats")).status_code == 403
        stats = await alice.ok("GET", "/events/stats")
        assert stats["connections_open"] == 2
        assert [c["user_id"] for c in stats["connections"]] == [bob.id]  # carol is no member


async def test_g10_a_resumed_stream_starts_a_workspace_at_the_time_of_joining(
    chat_url: str,
) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        workspace = await alice.ok("POST", "/workspaces", 201, json={"name": "Before bob"})
        await alice.ok(
            "PATCH", f"/workspaces/{workspace['id']}", json={"name": "Still before bob"},
            headers={"If-Match": '"1"'},
        )  # fmt: skip
        members = f"/workspaces/{workspace['id']}/members"
        await alice.ok("POST", members, 201, json={"username": "bob"})
        async with reading(base, bob, last_event_id=0) as replayed:
            await fence(bob, replayed)
            # Bob joined after the workspace was created and renamed: he sees his joining
            # (then the fence's own workspace), not the workspace's earlier history.
            assert replayed.types == ["member.added", "workspace.created"]
            assert replayed.events[1].payload["workspace_id"] != workspace["id"]
