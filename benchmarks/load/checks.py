"""End-of-run integrity: nothing acknowledged was lost or doubled, no stream missed anything.

Read straight from the database through lamina (the source of truth), once
every client has stopped:

* every acknowledged message is stored exactly once, with its id, content and
  conversation; a message whose post got no 201 is stored at most once; nothing
  else is stored;
* every stored message has exactly one ``message.posted`` event;
* every stream connection received exactly the events its person may see
  between the position it started after and where it ended, in order, each
  once; every tab got the closing fence;
* every invitation cycle ended where its acknowledged answers left it;
* every conversation's ``last_activity_at`` caught up with its newest message.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from examples.chat.repositories import Conversations, Messages, Participants

from benchmarks.load.clients import Newcomer
from benchmarks.load.streams import Watcher
from benchmarks.load.tally import Ledger
from lamina.events import EventStore
from lamina.persistence import Database, where

READ_BATCH = 1000
ACTIVITY_WAIT = 30.0
"""Seconds the conversations' activity markers (a projection) may take to catch up."""


@dataclass
class Findings:
    """What the checks found: counts, and a line per broken promise."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.failures.append(text)


@dataclass(frozen=True)
class LoggedEvent:
    position: int
    type: str
    workspace_id: UUID | None
    conversation_id: UUID | None
    message_id: str | None
    recorded_at: datetime


def _uuid(value: object) -> UUID | None:
    return UUID(value) if isinstance(value, str) else None


async def read_log(db: Database, after: int) -> list[LoggedEvent]:
    """Every event after position ``after``, in order."""
    store = EventStore(db)
    out: list[LoggedEvent] = []
    while batch := await store.read(after=after, limit=READ_BATCH):
        for event in batch:
            payload = event.payload
            out.append(
                LoggedEvent(
                    event.position,
                    event.event_type,
                    _uuid(payload.get("workspace_id")),
                    _uuid(payload.get("conversation_id")),
                    payload.get("message_id") if event.event_type == "message.posted" else None,
                    event.recorded_at,
                )
            )
        after = batch[-1].position
    return out


async def check_messages(
    db: Database, ledger: Ledger, log: list[LoggedEvent], found: Findings
) -> None:
    stored: dict[str, list[tuple[UUID, UUID]]] = {}
    messages = Messages(db)
    cursor = None
    while True:
        page = await messages.keyset_page(order_by=["created_at"], limit=READ_BATCH, cursor=cursor)
        for message in page.items:
            stored.setdefault(message.content, []).append((message.id, message.conversation_id))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    attempted = ledger.acknowledged.keys() | ledger.unknown
    found.counts["messages acknowledged"] = len(ledger.acknowledged)
    found.counts["messages stored"] = sum(len(v) for v in stored.values())
    for content, expected in ledger.acknowledged.items():
        if stored.get(content) != [expected]:
            found.fail(f"acknowledged message {content!r}: stored as {stored.get(content)}")
    for content in ledger.unknown:
        if len(stored.get(content, [])) > 1:
            found.fail(f"unacknowledged message {content!r} stored {len(stored[content])} times")
    for content in stored.keys() - attempted:
        found.fail(f"message {content!r} stored but never posted")
    posted = Counter(e.message_id for e in log if e.message_id is not None)
    ids = {str(message_id) for rows in stored.values() for message_id, _ in rows}
    if ids != set(posted):
        found.fail(
            f"{len(ids - set(posted))} stored messages without a message.posted event, "
            f"{len(set(posted) - ids)} events of no stored message"
        )
    doubled = [m for m, n in posted.items() if n > 1]
    if doubled:
        found.fail(f"{len(doubled)} messages with more than one message.posted event")


def check_streams(watchers: list[Watcher], log: list[LoggedEvent], found: Findings) -> None:
    found.counts["stream connections"] = sum(len(w.segments) for w in watchers)
    found.counts["stream events received"] = sum(
        len(s.received) for w in watchers for s in w.segments
    )
    found.counts["streams told to resume (slow)"] = sum(
        s.ended_by == "resume" for w in watchers for s in w.segments
    )
    for watcher in watchers:
        person = watcher.person
        visible = [e.position for e in log if person.sees(e.workspace_id, e.conversation_id)]
        if not watcher.done:
            found.fail(f"a stream of {person.name} never received the closing fence")
        for segment in watcher.segments:
            end = segment.received[-1] if segment.received else segment.after
            expected = [p for p in visible if segment.after < p <= end]
            if segment.received != expected:
                missing = sorted(set(expected) - set(segment.received))
                extra = sorted(set(segment.received) - set(expected))
                found.fail(
                    f"stream of {person.name} after {segment.after}: "
                    f"{len(missing)} missing {missing[:5]}, {len(extra)} not visible {extra[:5]}, "
                    f"in order and once: {segment.received == sorted(set(segment.received))}"
                )


async def check_activity(db: Database, log: list[LoggedEvent], found: Findings) -> None:
    """Every conversation's ``last_activity_at`` reaches its newest message (a projection)."""
    newest: dict[UUID, datetime] = {}
    for event in log:
        if event.message_id is not None and event.conversation_id is not None:
            # Positions follow commit order, times were taken before it: the
            # newest message of a conversation is the latest time, not the last position.
            newest[event.conversation_id] = max(
                event.recorded_at, newest.get(event.conversation_id, event.recorded_at)
            )
    conversations = Conversations(db)
    deadline = time.monotonic() + ACTIVITY_WAIT
    while True:
        stored = {c.id: c.last_activity_at for c in await conversations.get_many(list(newest))}
        behind = [c for c, at in newest.items() if stored.get(c) != at]
        if not behind or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    found.counts["conversations whose activity marker was checked"] = len(newest)
    if behind:
        found.fail(f"{len(behind)} conversations' last_activity_at behind their last message")


async def check_invitations(db: Database, newcomers: list[Newcomer], found: Findings) -> None:
    participants = Participants(db)
    cycles = 0
    for newcomer in newcomers:
        if newcomer.state is None:
            continue  # an unexpected answer already counted; its state is unknown
        rows = await participants.list(
            where("user_id") == newcomer.person.id,
            where("conversation_id") == newcomer.conversation,
        )
        status = rows[0].status.value if rows else "out"
        expected = {"out": ("out", "left"), "invited": ("invited",), "active": ("active",)}
        if status not in expected[newcomer.state]:
            found.fail(f"{newcomer.person.name}: {status}, but the answers said {newcomer.state}")
        cycles += 1
    found.counts["invitation cycles checked"] = cycles
