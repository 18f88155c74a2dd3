"""Throttling over HTTP with two worker processes (``WORKERS=2``), and across a restart.

Clients come from different loopback addresses (127.0.0.x), as different hosts
would: the limits per account and address, per address, and on registrations
hold whichever worker answers, and survive a restart; an attacker elsewhere
never makes the owner's correct password fail.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from chat_testkit import PASSWORD, two_workers

OWNER, ATTACKER, SPRAYER, REGISTRAR = "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"


@contextlib.asynccontextmanager
async def client_from(base: str, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=base, transport=transport, timeout=30) as client:
        yield client


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> int:
    answer = await client.post("/auth/token", data={"username": username, "password": password})
    return answer.status_code


def registration(name: str) -> dict[str, str]:
    return {
        "username": name,
        "email": f"{name}@example.com",
        "display_name": name,
        "password": PASSWORD,
    }


async def test_g16_limits_hold_across_workers_and_restarts_without_locking_the_owner_out(
    isolated_db_url: str, tmp_path: Path
) -> None:
    with two_workers(isolated_db_url, tmp_path) as base:
        async with client_from(base, OWNER) as owner, client_from(base, ATTACKER) as attacker:
            registered = await owner.post("/auth/register", json=registration("alice"))
            assert registered.status_code == 201
            guesses = [await log_in(attacker, "alice", f"guess {n}") for n in range(12)]
            assert guesses == [401] * 5 + [429] * 7  # as with one worker: the 6th is refused
            assert await log_in(owner, "alice", PASSWORD) == 200  # slowed down, never refused

        async with client_from(base, SPRAYER) as sprayer:
            sprayed = [await log_in(sprayer, f"user{n}", "guess") for n in range(21)]
            assert sprayed == [401] * 20 + [429]

        async with client_from(base, REGISTRAR) as registrar:
            answers = [
                (await registrar.post("/auth/register", json=registration(f"bot{n}"))).status_code
                for n in range(12)
            ]
            assert answers == [201] * 10 + [429] * 2

    with two_workers(isolated_db_url, tmp_path) as base:  # a restart keeps the counters
        async with client_from(base, ATTACKER) as attacker, client_from(base, SPRAYER) as sprayer:
            assert await log_in(attacker, "alice", "one more guess") == 429
            assert await log_in(sprayer, "anyone", "guess") == 429
