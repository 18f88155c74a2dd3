"""A service without database access following a relayed stream with ``StreamConsumer``.

Usage: python stream_consumer_worker.py NATS_URL STREAM OUTPUT EXPECTED [CRASH_AT]
The handler appends each Tick's position to OUTPUT (its idempotency key). With
CRASH_AT, the process SIGKILLs itself right after handling that position, before
the acknowledgement; without it, it exits once OUTPUT holds EXPECTED distinct positions.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from events_testkit import Tick

from lamina.events import StoredEvent, StreamConsumer, Subscription


def seen(output: Path) -> set[int]:
    return {int(line) for line in output.read_text().split()} if output.exists() else set()


async def main(url: str, stream: str, output: Path, expected: int, crash_at: int | None) -> None:
    projection = Subscription("tick-projection")
    done = asyncio.Event()

    @projection.handles(Tick)
    async def project(event: Tick, record: StoredEvent) -> None:
        with output.open("a") as file:
            file.write(f"{record.position}\n")
        if record.position == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if len(seen(output)) >= expected:
            done.set()

    consumer = StreamConsumer(
        url, projection, stream=stream, subject_prefix=stream.lower(), ack_wait=1.0, batch_size=10
    )
    async with consumer:
        await done.wait()
        await asyncio.sleep(0.2)  # the last acknowledgement


if __name__ == "__main__":
    crash = int(sys.argv[5]) if len(sys.argv) > 5 else None
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), crash))
