"""Live streams across real server processes (uvicorn subprocesses running ``sse_app``)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from events_testkit import (
    SSEMessage,
    eventually,
    open_stalled_stream,
    publish_ticks,
    server_process,
    sse_messages,
)

from lamina.persistence import Database

MB = 1024 * 1024


Stats = dict[str, Any]


async def wait_for_stats(base: str, ready: Callable[[Stats], bool], seconds: float = 20.0) -> Stats:
    """Poll ``/stats`` until ``ready(stats)``; return those stats."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            stats: Stats = (await client.get("/stats")).json()
            if ready(stats):
                return stats
            assert time.monotonic() < deadline, f"condition not reached: {stats}"
            await asyncio.sleep(0.05)


@pytest.mark.postgres_only
async def test_an_event_appended_through_one_server_reaches_a_client_of_another(
    db: Database, db_url: str
) -> None:
    rounds = 30
    with server_process(db_url) as server_a, server_process(db_url) as server_b:
        await wait_for_stats(server_b, lambda s: s["listening"])
        latencies: list[float] = []
        arrivals: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

        async def listen(response: httpx.Response) -> None:
            async for message in sse_messages(response):
                if message.id is not None:
                    arrivals.put_nowait((message.json()["payload"]["n"], time.perf_counter()))

        async with httpx.AsyncClient(base_url=server_b, timeout=10) as client_b, \
                httpx.AsyncClient(base_url=server_a) as client_a, \
                client_b.stream("GET", "/events", headers={"X-User": "ann"}) as stream:  # fmt: skip
            reader = asyncio.create_task(listen(stream))
            await wait_for_stats(server_b, lambda s: s["connections_open"] == 1)
            for n in range(rounds):
                sent = time.perf_counter()
                response = await client_a.post("/ticks", json={"n": n})
                assert response.status_code == 204
                got, arrived = await asyncio.wait_for(arrivals.get(), 5)
                assert got == n
                latencies.append(arrived - sent)
            reader.cancel()
    median = statistics.median(latencies)
    print(
        f"\ncross-process SSE latency over {rounds} events: median {median * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms (append via server A -> client of server B)"
    )
    assert median < 0.2


async def test_g14_a_client_that_reads_nothing_is_dropped_and_memory_stays_flat(
    db: Database, db_url: str
) -> None:
    total, burst, blob = 4000, 100, "x" * 4000  # 16 MB of events
    settings = {"max_buffer": burst, "send_timeout": 0.5, "poll_interval": 0.05, "heartbeat": 5}
    with server_process(db_url, **settings) as server:
        healthy: list[SSEMessage] = []

        async def read_all(response: httpx.Response) -> None:
            async for message in sse_messages(response):
                if message.id is not None:
                    healthy.append(message)
                    if len(healthy) == total + 200:
                        return

        async with (
            httpx.AsyncClient(base_url=server, timeout=30) as client,
            client.stream("GET", "/events", headers={"X-User": "bob"}) as stream,
        ):
            reader = asyncio.create_task(read_all(stream))
            await wait_for_stats(server, lambda s: s["connections_open"] == 1)
            await publish_ticks(db, 200, channel="warm-up", blob=blob)
            before = await wait_for_stats(server, lambda s: s["events_sent"] == 200)

            stalled = open_stalled_stream(server)
            try:
                await wait_for_stats(server, lambda s: s["connections_open"] == 2)
                # The healthy client keeps up by construction: each burst fits the server's
                # buffer and is published only once it read the one before. A busy test
                # process therefore cannot make it look slow; the stalled client still fills
                # its buffer within a few bursts.
                for published in range(burst, total + burst, burst):
                    await publish_ticks(db, burst, start=published - burst, blob=blob)
                    expected = 200 + published
                    await eventually(lambda: len(healthy) >= expected, 20)  # noqa: B023
                after = await wait_for_stats(server, lambda s: s["slow_disconnects"] == 1)
                await asyncio.wait_for(reader, 30)
            finally:
                stalled.close()
    assert len(healthy) == total + 200  # the reading client got everything
    growth = after["rss"] - before["rss"]
    print(f"\nserver RSS growth while a stalled client was fed 16 MB: {growth / MB:.1f} MB")
    assert growth < 8 * MB
