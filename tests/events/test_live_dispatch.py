"""Live fan-out: every authorizer sees every event, even one that cannot be rendered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lamina.domain import EventContext, EventPriority, uuid7
from lamina.events import LiveHub
from lamina.events.stored import StoredEvent
from lamina.persistence import Database


def stored(position: int, event_type: str) -> StoredEvent:
    return StoredEvent(
        position=position,
        event_id=uuid7(),
        stream_id="s",
        stream_version=position,
        event_type=event_type,
        schema_version=1,
        payload={},
        context=EventContext(),
        priority=EventPriority.NORMAL,
        recorded_at=datetime.now(UTC),
    )


def render(event: StoredEvent) -> bytes:
    if event.event_type == "broken":
        raise ValueError("cannot render")
    return f"id: {event.position}\n\n".encode()


async def test_an_unrenderable_event_still_reaches_every_authorizer(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}")
    await db.create_all()
    hub = LiveHub(db, render)
    seen: dict[str, list[int]] = {"ann": [], "bob": []}

    def authorize(user: str, event: StoredEvent) -> bool:
        seen[user].append(event.position)  # a stateful authorizer, like a membership cache
        return True

    try:
        connections = [
            await hub.open(user, authorize=authorize, after=0) for user in ("ann", "bob")
        ]
        for conn in connections:
            async for _ in hub.replay(conn):
                pass
        hub._dispatch([stored(1, "broken"), stored(2, "fine")])
        assert seen == {"ann": [1, 2], "bob": [1, 2]}
        assert all(conn.cursor == 2 for conn in connections)
    finally:
        await hub.stop()
        await db.close()
