"""G15 over HTTP: many people writing to one conversation or workspace at the same moment.

Every request completes, with 201 (or the documented 409), each within a second,
and nothing is lost: every posted message is stored once and streamed once.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from chat_testkit import ChatUser, eventually, fence, reading, serving, user_on

PER_REQUEST = 1.0
"""Seconds within which every concurrent request must be answered."""


@asynccontextmanager
async def _team(base: str, size: int) -> AsyncIterator[list[ChatUser]]:
    """``size`` logged-in users (the first owns nothing yet)."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(user_on(base, f"user{n}")) for n in range(size)]


async def _conversation_of(team: list[ChatUser], modality: str = "text") -> dict[str, Any]:
    """A workspace of ``team[0]`` with everyone as member, and a conversation all take part in."""
    owner = team[0]
    ws = (await owner.ok("POST", "/workspaces", 201, json={"name": "Team"}))["id"]
    conversation: dict[str, Any] = await owner.ok(
        "POST",
        f"/workspaces/{ws}/conversations",
        201,
        json={"title": "Standup", "modality": modality},
    )
    participants = f"/conversations/{conversation['id']}/participants"
    for user in team[1:]:
        await owner.ok("POST", f"/workspaces/{ws}/members", 201, json={"username": user.username})
        await owner.ok("POST", participants, 201, json={"username": user.username})
        await user.ok("POST", f"{participants}/me/accept")
    return conversation


async def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


async def _all_at_once(calls: list[Any]) -> list[httpx.Response]:
    """Send ``calls`` concurrently; each must be answered within :data:`PER_REQUEST`.

    The server shares this test process, whose heap holds what the whole suite has left
    so far: a full collection of it stops every request at once (about a second on a slow
    machine, seen in full runs only). Collecting first, untimed, keeps the next one far off.
    """
    gc.collect()
    answers = await asyncio.gather(*(_timed(call) for call in calls))
    slowest = max(seconds for _, seconds in answers)
    assert slowest < PER_REQUEST, [(r.status_code, round(s, 3)) for r, s in answers]
    return [response for response, _ in answers]


@pytest.mark.parametrize("posts", [8, 16])
async def test_g15_participants_post_to_one_conversation_at_once(chat_url: str, posts: int) -> None:
    async with serving(chat_url) as base, _team(base, 4) as team:
        conversation = await _conversation_of(team)
        url = f"/conversations/{conversation['id']}"
        before = await team[0].ok("GET", url)
        async with reading(base, team[1]) as stream:
            responses = await _all_at_once(
                [
                    team[n % len(team)].call("POST", f"{url}/messages", json={"content": f"#{n}"})
                    for n in range(posts)
                ]
            )
            assert [r.status_code for r in responses] == [201] * posts
            await fence(team[1], stream)

        sent = {r.json()["id"] for r in responses}
        page = await team[0].ok("GET", f"{url}/messages", params={"limit": 100})
        assert sorted(m["id"] for m in page["items"]) == sorted(sent)  # each stored once
        streamed = [e.payload["message_id"] for e in stream.events if e.type == "message.posted"]
        assert sorted(streamed) == sorted(sent)  # each streamed once
        # The activity marker follows the last message recorded (a projection of the events).
        recorded = max(
            datetime.fromisoformat(e.data["recorded_at"])
            for e in stream.events
            if e.type == "message.posted"
        )
        after = await eventually(
            lambda: team[0].ok("GET", url),
            lambda c: datetime.fromisoformat(c["last_activity_at"]) == recorded,
        )
        # Posting moved the activity marker only: an If-Match taken before still holds.
        assert after["version"] == before["version"]
        renamed = await team[0].call(
            "PATCH", url, json={"title": "Retro"}, headers={"If-Match": f'"{before["version"]}"'}
        )
        assert renamed.status_code == 200, renamed.text


async def test_g15_members_invitations_and_answers_at_once(chat_url: str) -> None:
    async with serving(chat_url) as base, _team(base, 7) as team:
        owner, others = team[0], team[1:]
        ws = (await owner.ok("POST", "/workspaces", 201, json={"name": "Team"}))["id"]
        members = f"/workspaces/{ws}/members"
        added = await _all_at_once(
            [owner.call("POST", members, json={"username": u.username}) for u in others]
            + [owner.call("POST", members, json={"username": others[0].username})]
        )
        assert sorted(r.status_code for r in added) == [201] * len(others) + [409]

        conversation = await owner.ok(
            "POST", f"/workspaces/{ws}/conversations", 201, json={"title": "Call"}
        )
        participants = f"/conversations/{conversation['id']}/participants"
        invited = await _all_at_once(
            [owner.call("POST", participants, json={"username": u.username}) for u in others]
            + [owner.call("POST", participants, json={"username": others[-1].username})]
        )
        assert sorted(r.status_code for r in invited) == [201] * len(others) + [409]

        answers = await _all_at_once([u.call("POST", f"{participants}/me/accept") for u in others])
        assert [r.status_code for r in answers] == [200] * len(others)
        listed = await owner.ok("GET", participants)
        assert sorted(p["status"] for p in listed["items"]) == ["active"] * len(team)


async def test_g15_recordings_start_while_messages_are_posted(chat_url: str) -> None:
    async with serving(chat_url) as base, _team(base, 4) as team:
        owner = team[0]
        conversation = await _conversation_of(team, "voice")
        url = f"/conversations/{conversation['id']}"
        responses = await _all_at_once(
            [u.call("POST", f"{url}/recordings", json={}) for u in team]
            + [u.call("POST", f"{url}/messages", json={"content": "hi"}) for u in team * 2]
        )
        starts = sorted(r.status_code for r in responses[: len(team)])
        assert starts == [201] + [409] * (len(team) - 1)  # one recording at a time
        assert [r.status_code for r in responses[len(team) :]] == [201] * len(team) * 2
        recordings = await owner.ok("GET", f"{url}/recordings")
        assert [r["status"] for r in recordings["items"]] == ["recording"]
