"""The chat service relays its event log to NATS JetStream when given a relay URL."""

from __future__ import annotations

import json
from uuid import uuid4

import nats
from chat_testkit import serving, user_on

from nats_kit import cleaned_up, wait_for_count


async def test_chat_relays_messages_to_jetstream(chat_url: str, nats_url: str) -> None:
    stream = f"CHAT{uuid4().hex[:10].upper()}"
    prefix = stream.lower()
    async with cleaned_up(nats_url, stream):
        nc = await nats.connect(nats_url)
        try:
            async with (
                serving(
                    chat_url, relay_url=nats_url, relay_stream=stream, relay_subject_prefix=prefix
                ) as base,
                user_on(base, "alice") as alice,
            ):
                ws = (await alice.ok("POST", "/workspaces", 201, json={"name": "Acme"}))["id"]
                listing = f"/workspaces/{ws}/conversations"
                conv = (await alice.ok("POST", listing, 201, json={"title": "Plans"}))["id"]
                await alice.ok(
                    "POST", f"/conversations/{conv}/messages", 201, json={"content": "hi"}
                )
                held = await wait_for_count(nats_url, stream, 3, 10)
                assert held >= 3
            js = nc.jetstream()
            sub = await js.subscribe(
                f"{prefix}.message.posted.>", stream=stream, ordered_consumer=True
            )
            message = await sub.next_msg(timeout=5)
        finally:
            await nc.close()
    assert message.subject == f"{prefix}.message.posted.{conv}"
    assert json.loads(message.data)["payload"]["content"] == "hi"
