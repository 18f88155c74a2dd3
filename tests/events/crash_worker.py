"""A process that commits an event and then stalls before its handler can run (to be SIGKILLed),
or, with ``resume``, a restarted process whose runner must deliver that event.

Usage: python crash_worker.py DATABASE_URL OUTPUT_FILE publish|resume
The handler appends ``<event n>`` to OUTPUT_FILE.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from events_testkit import Tick, eventually

from lamina.events import EventRunner, StoredEvent, Subscription
from lamina.persistence import Database


def handled(output: Path) -> list[str]:
    return output.read_text().split() if output.exists() else []


def stall(seconds: float) -> None:
    """Block this thread, hence the event loop: no handler can run meanwhile."""
    time.sleep(seconds)


def mailer(output: Path, *, doomed: bool) -> Subscription:
    """Appends each Tick's ``n`` to ``output``; a ``doomed`` process stalls instead.

    The runner of the process that is killed may get a turn between the commit and the
    stall; its handler then stalls too, so the process dies before sending either way.
    """
    subscription = Subscription("crash-mailer")

    @subscription.handles(Tick)
    async def send(event: Tick, record: StoredEvent) -> None:
        if doomed:
            stall(60)
        with output.open("a") as file:
            file.write(f"{event.n}\n")

    return subscription


async def main(url: str, output: Path, mode: str) -> None:
    db = Database(url)
    doomed = mode == "publish"
    runner = EventRunner(db, [mailer(output, doomed=doomed)], poll_interval=0.05, lease=1.0)
    await runner.start()
    await eventually(lambda: "crash-mailer" in runner.positions, 20)
    if doomed:
        async with db.unit_of_work() as uow:
            uow.publish(Tick(channel="crash", n=42))
        print("committed", flush=True)
        stall(60)  # killed meanwhile
    else:
        await eventually(lambda: bool(handled(output)), 20)
        await runner.stop()
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
