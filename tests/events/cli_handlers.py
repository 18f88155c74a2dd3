"""Subscriptions the CLI tests replay: a projection kept in the file ``$CLI_PROJECTION_FILE``."""

from __future__ import annotations

import os
from pathlib import Path

from events_testkit import Tick

from lamina.events import StoredEvent, Subscription


def _file() -> Path:
    return Path(os.environ["CLI_PROJECTION_FILE"])


async def _reset() -> None:
    _file().write_text("")


ticks = Subscription("cli-ticks", reset=_reset)


@ticks.handles(Tick)
async def _record(event: Tick, record: StoredEvent) -> None:
    with _file().open("a") as file:
        file.write(f"{record.position} {event.n}\n")


subscriptions = [ticks]
