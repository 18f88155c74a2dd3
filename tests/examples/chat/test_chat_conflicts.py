"""Conflicts over HTTP: concurrent PATCHes (G2), double end, duplicate invite, double start."""

from __future__ import annotations

import asyncio
from typing import Any

from chat_testkit import ChatUser, etag_of, serving, user_on


async def _voice_conversation(owner: ChatUser, guest: ChatUser) -> dict[str, Any]:
    """A workspace of ``owner`` with ``guest`` as member, and a voice conversation in it."""
    ws = (await owner.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
    await owner.ok("POST", f"/workspaces/{ws}/members", 201, json={"username": guest.username})
    conversation: dict[str, Any] = await owner.ok(
        "POST", f"/workspaces/{ws}/conversations", 201, json={"title": "Call", "modality": "voice"}
    )
    return conversation


async def test_g2_concurrent_patches_with_the_same_if_match(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        conv = await _voice_conversation(alice, bob)
        url = f"/conversations/{conv['id']}"
        responses = await asyncio.gather(
            *(
                alice.call("PATCH", url, json={"title": f"title {n}"}, headers={"If-Match": '"1"'})
                for n in range(6)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 412, 412, 412, 412, 412]
        winner = next(r for r in responses if r.status_code == 200)
        assert winner.headers["ETag"] == '"2"'
        current = await alice.ok("GET", url)
        assert (current["title"], current["version"]) == (winner.json()["title"], 2)
        history = await alice.ok("GET", f"{url}/history")
        assert [e["action"] for e in history["items"]] == ["create", "update"]


async def test_recording_conflicts(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        conv = await _voice_conversation(alice, bob)
        recordings = f"/conversations/{conv['id']}/recordings"
        starts = await asyncio.gather(*(alice.call("POST", recordings, json={}) for _ in range(4)))
        assert sorted(r.status_code for r in starts) == [201, 409, 409, 409]
        recording = next(r for r in starts if r.status_code == 201).json()
        ended = await alice.call("POST", f"/recordings/{recording['id']}/end")
        again = await alice.call("POST", f"/recordings/{recording['id']}/end")
        assert (ended.status_code, again.status_code) == (200, 409)
        assert again.json()["type"].endswith("/conflict")
        page = await alice.ok("GET", recordings)
        assert [r["status"] for r in page["items"]] == ["completed"]

        ws = conv["workspace_id"]
        text = await alice.ok("POST", f"/workspaces/{ws}/conversations", 201, json={"title": "T"})
        refused = await alice.call("POST", f"/conversations/{text['id']}/recordings", json={})
        assert refused.status_code == 409


async def test_invitations(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
        user_on(base, "carol") as carol,
    ):
        conv = await _voice_conversation(alice, bob)
        participants = f"/conversations/{conv['id']}/participants"
        await alice.ok("POST", participants, 201, json={"username": "bob"})
        duplicate = await alice.call("POST", participants, json={"username": "bob"})
        assert duplicate.status_code == 409
        assert duplicate.json()["fields"] == ["username"]
        outsider = await alice.call("POST", participants, json={"username": "carol"})
        assert outsider.status_code == 422  # carol is not a member of the workspace
        unknown = await alice.call("POST", participants, json={"username": "nobody"})
        assert unknown.status_code == 422
        assert (await carol.call("GET", participants)).status_code == 404

        invited_invites = await bob.call("POST", participants, json={"username": "alice"})
        assert invited_invites.status_code == 403  # bob sees the invitation, is not active yet
        rejected = await bob.ok("POST", f"{participants}/me/reject")
        assert rejected["status"] == "rejected"
        assert (await bob.call("GET", f"/conversations/{conv['id']}")).status_code == 404
        again = await alice.ok("POST", participants, 201, json={"username": "bob"})
        assert again["status"] == "invited"
        joined = await bob.call("POST", f"{participants}/me/accept")
        assert joined.status_code == 200
        assert (await bob.call("POST", f"{participants}/me/accept")).status_code == 409

        no_if_match = await bob.call("DELETE", f"{participants}/me")
        assert no_if_match.status_code == 428
        left = await bob.call("DELETE", f"{participants}/me", headers=etag_of(joined))
        assert left.status_code == 204
        listed = await alice.ok("GET", participants)
        assert {(p["user_id"], p["status"]) for p in listed["items"]} == {
            (alice.id, "active"),
            (bob.id, "left"),
        }


async def test_only_the_sender_deletes_a_message(chat_url: str) -> None:
    async with (
        serving(chat_url) as base,
        user_on(base, "alice") as alice,
        user_on(base, "bob") as bob,
    ):
        conv = await _voice_conversation(alice, bob)
        participants = f"/conversations/{conv['id']}/participants"
        await alice.ok("POST", participants, 201, json={"username": "bob"})
        await bob.ok("POST", f"{participants}/me/accept")
        messages = f"/conversations/{conv['id']}/messages"
        posted = await alice.call("POST", messages, json={"content": "mine"})
        message = posted.json()
        by_bob = await bob.call(
            "DELETE", f"/messages/{message['id']}", headers={"If-Match": posted.headers["ETag"]}
        )
        assert by_bob.status_code == 403
        by_alice = await alice.call(
            "DELETE", f"/messages/{message['id']}", headers={"If-Match": posted.headers["ETag"]}
        )
        assert by_alice.status_code == 204
        assert (await bob.ok("GET", messages))["items"] == []
        assert (await alice.call("POST", messages, json={"content": ""})).status_code == 422
        too_long = await alice.call("POST", messages, json={"content": "x" * 10_001})
        assert too_long.status_code == 422
