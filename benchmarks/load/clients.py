"""The clients: people posting, reading and inviting, each checking every answer it gets.

Each client runs requests back to back on its own keep-alive connection (a
closed loop: the next request leaves when the last answer came), choosing what
to do with its own seeded random generator, so a run is the same sequence of
requests every time.
"""

from __future__ import annotations

import random
import time
from typing import Any
from uuid import UUID

from benchmarks.load.http import Connection, Response
from benchmarks.load.population import MixedClient, Person
from benchmarks.load.tally import Ledger, Tally

PAGE = 20
"""Messages per page a client reads."""


class Client:
    """One person's connection: every request is timed, counted and its status checked."""

    def __init__(self, person: Person, port: int, tally: Tally) -> None:
        self.person = person
        self.tally = tally
        self.connection = Connection("127.0.0.1", port)

    async def call(
        self,
        route: str,
        method: str,
        path: str,
        expect: tuple[int, ...],
        *,
        as_person: Person | None = None,
        **kwargs: Any,
    ) -> Response | None:
        """The response if its status is one of ``expect``, else None (and it is counted)."""
        token = (as_person or self.person).token
        started = time.perf_counter()
        try:
            response = await self.connection.request(method, path, token=token, **kwargs)
        except (ConnectionError, OSError) as exc:
            self.tally.record(route, 0, time.perf_counter() - started, expect, repr(exc))
            await self.connection.close()
            return None
        seconds = time.perf_counter() - started
        ok = self.tally.record(route, response.status, seconds, expect, response.body.decode())
        return response if ok else None

    async def post(self, conversation_id: UUID, content: str, ledger: Ledger) -> None:
        """Post ``content``; the answer must be that message, in that conversation."""
        response = await self.call(
            "POST /conversations/{conversation_id}/messages",
            "POST",
            f"/conversations/{conversation_id}/messages",
            (201,),
            body={"content": content},
        )
        if response is None:
            ledger.unknown.add(content)
            return
        message = response.json()
        if message["content"] != content or message["conversation_id"] != str(conversation_id):
            self.tally.wrong_answer("POST message", f"asked for {content!r}, got {message!r}")
            ledger.unknown.add(content)
            return
        ledger.acknowledged[content] = (UUID(message["id"]), conversation_id)

    async def read_messages(self, conversation_id: UUID, rng: random.Random) -> None:
        """A page of a conversation's messages (sometimes the next one too), checked."""
        path = f"/conversations/{conversation_id}/messages?limit={PAGE}"
        page = await self.call("GET /conversations/{conversation_id}/messages", "GET", path, (200,))
        if page is None:
            return
        body = page.json()
        self._check_items(body["items"], conversation_id)
        if body["next_cursor"] and rng.random() < 0.3:
            more = await self.call(
                "GET /conversations/{conversation_id}/messages (next page)",
                "GET",
                f"{path}&cursor={body['next_cursor']}",
                (200,),
            )
            if more is not None:
                self._check_items(more.json()["items"], conversation_id)

    def _check_items(self, items: list[dict[str, Any]], conversation_id: UUID) -> None:
        times = [item["created_at"] for item in items]
        if any(item["conversation_id"] != str(conversation_id) for item in items):
            self.tally.wrong_answer("GET messages", "a message of another conversation")
        if times != sorted(times):
            self.tally.wrong_answer("GET messages", "a page out of order")


async def hot_poster(client: Client, conversation_id: UUID, ledger: Ledger, until: float) -> None:
    """Post into the one hot conversation, back to back, until ``until``."""
    n = 0
    while time.monotonic() < until:
        await client.post(conversation_id, f"{client.person.name}#{n}", ledger)
        n += 1


class Newcomer:
    """A client's invitation cycle: invite the newcomer, who accepts, then leaves again.

    ``state`` is where the cycle stands as far as acknowledged answers tell
    (``None`` once an answer was not the expected one: the checks skip it).
    """

    def __init__(self, mixed: MixedClient) -> None:
        self.person = mixed.newcomer
        self.conversation = mixed.shared
        self.state: str | None = "out"
        self.etag = ""

    async def step(self, client: Client) -> None:
        participants = f"/conversations/{self.conversation}/participants"
        if self.state == "out":
            done = await client.call(
                "POST /conversations/{conversation_id}/participants",
                "POST",
                participants,
                (201,),
                body={"username": self.person.name},
            )
            self.state = "invited" if done else None
        elif self.state == "invited":
            done = await client.call(
                "POST /conversations/{conversation_id}/participants/me/accept",
                "POST",
                f"{participants}/me/accept",
                (200,),
                as_person=self.person,
            )
            self.state, self.etag = ("active", done.headers["etag"]) if done else (None, "")
        elif self.state == "active":
            done = await client.call(
                "DELETE /conversations/{conversation_id}/participants/me",
                "DELETE",
                f"{participants}/me",
                (204,),
                as_person=self.person,
                headers={"If-Match": self.etag},
            )
            self.state = "out" if done else None


async def mixed_client(
    client: Client, mixed: MixedClient, newcomer: Newcomer, ledger: Ledger, seed: int, until: float
) -> None:
    """A mix of what people do in a chat, until ``until``."""
    rng = random.Random(seed)
    workspace = mixed.person.workspace_id
    n = 0
    while time.monotonic() < until:
        roll = rng.random()
        if roll < 0.30:
            await client.post(mixed.shared, f"{client.person.name}#{n}", ledger)
        elif roll < 0.45:
            await client.post(mixed.private, f"{client.person.name}#{n}", ledger)
        elif roll < 0.70:
            await client.read_messages(rng.choice((mixed.shared, mixed.private)), rng)
        elif roll < 0.80:
            await client.call(
                "GET /conversations/{id}", "GET", f"/conversations/{mixed.shared}", (200,)
            )
        elif roll < 0.92:
            await client.call(
                "GET /workspaces/{workspace_id}/conversations",
                "GET",
                f"/workspaces/{workspace}/conversations?limit={PAGE}",
                (200,),
            )
        elif newcomer.state is not None:
            await newcomer.step(client)
        n += 1
