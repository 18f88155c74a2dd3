"""Argon2id password hashing: only encoded Argon2id hashes, verified off the event loop."""

from __future__ import annotations

import asyncio
import time

import pytest
from auth_app import FAST_ARGON2

from lamina.security import Argon2Parameters, PasswordHasher


async def test_hash_is_salted_argon2id_with_the_configured_cost() -> None:
    hasher = PasswordHasher(Argon2Parameters(time_cost=2, memory_cost_kib=2048, parallelism=1))
    first = await hasher.hash("correct horse battery staple")
    second = await hasher.hash("correct horse battery staple")
    assert first.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert second.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert "correct horse" not in first


async def test_verify_accepts_the_password_and_nothing_else() -> None:
    hasher = PasswordHasher(FAST_ARGON2)
    stored = await hasher.hash("s3cret-passphrase")
    assert await hasher.verify(stored, "s3cret-passphrase") is True
    assert await hasher.verify(stored, "s3cret-passphrasE") is False
    assert await hasher.verify(stored, "") is False


@pytest.mark.parametrize(
    "stored",
    ["plaintext-password", "", "$2b$12$abcdefghijklmnopqrstuuJ9n1nGkUYDWqSQDLxvQWo4m6P6Z9F.a"],
)
async def test_verify_against_a_non_argon2_value_is_false(stored: str) -> None:
    hasher = PasswordHasher(FAST_ARGON2)
    assert await hasher.verify(stored, "plaintext-password") is False


async def test_verify_unknown_is_always_false() -> None:
    hasher = PasswordHasher(FAST_ARGON2)
    assert await hasher.verify_unknown("anything") is False
    assert await hasher.verify_unknown("anything") is False


async def test_passwords_with_lone_surrogates_hash_and_verify() -> None:
    hasher = PasswordHasher(FAST_ARGON2)
    stored = await hasher.hash("pass\ud800word")
    assert await hasher.verify(stored, "pass\ud800word") is True
    assert await hasher.verify(stored, "pass\ud801word") is False
    assert await hasher.verify_unknown("\udfff") is False


async def test_needs_rehash_when_the_parameters_changed() -> None:
    old = PasswordHasher(FAST_ARGON2)
    new = PasswordHasher(Argon2Parameters(time_cost=2, memory_cost_kib=2048, parallelism=1))
    stored = await old.hash("s3cret-passphrase")
    assert old.needs_rehash(stored) is False
    assert new.needs_rehash(stored) is True
    assert new.needs_rehash("not a hash") is True


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Argon2Parameters(time_cost=0)
    with pytest.raises(ValueError, match="memory_cost_kib"):
        Argon2Parameters(memory_cost_kib=8, parallelism=2)
    with pytest.raises(ValueError, match="max_concurrency"):
        PasswordHasher(FAST_ARGON2, max_concurrency=0)


def test_default_parameters_meet_the_owasp_minimum() -> None:
    params = PasswordHasher().parameters
    assert params.memory_cost_kib >= 19_456
    assert params.time_cost >= 2
    assert params.parallelism >= 1


async def test_hashing_does_not_block_the_event_loop() -> None:
    hasher = PasswordHasher(Argon2Parameters(time_cost=3, memory_cost_kib=32_768, parallelism=1))
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    start = time.perf_counter()
    stored = await hasher.hash("s3cret-passphrase")
    assert await hasher.verify(stored, "s3cret-passphrase")
    elapsed = time.perf_counter() - start
    done.set()
    await ticking
    # Blocking the loop would leave one gap as long as a whole hash (half of ``elapsed``).
    assert max(gaps) < elapsed / 4, (max(gaps), elapsed)
