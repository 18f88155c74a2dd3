"""Login and registration throttling, counted in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from auth_app import MutableClock

from lamina.domain import RateLimited, Unauthenticated, Unavailable
from lamina.persistence import Database
from lamina.security import (
    LoginThrottle,
    RateLimit,
    RegistrationThrottle,
    Slowdown,
)

HOME, ELSEWHERE = "10.0.0.1", "203.0.113.9"


class Sleeps:
    """Records the delays a throttle asks for instead of waiting them."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def throttle_on(db: Database, clock: MutableClock, **limits: object) -> LoginThrottle:
    options: dict[str, object] = {"per_pair": RateLimit(3, 60), "per_address": None}
    options["slowdown"] = None
    return LoginThrottle(db, clock=clock, **(options | limits))  # type: ignore[arg-type]


async def fail(throttle: LoginThrottle, account: str, address: str | None = HOME) -> None:
    with pytest.raises(Unauthenticated):
        async with throttle.attempt(account, address):
            raise Unauthenticated("incorrect username or password")


async def succeed(throttle: LoginThrottle, account: str, address: str | None = HOME) -> None:
    async with throttle.attempt(account, address) as attempt:
        attempt.succeeded()


async def refused(throttle: LoginThrottle, account: str, address: str | None = HOME) -> int:
    with pytest.raises(RateLimited) as caught:
        async with throttle.attempt(account, address):
            raise AssertionError("the attempt should have been refused")
    return caught.value.retry_after


async def test_the_attempt_after_the_threshold_is_refused_with_retry_after(
    db: Database, clock: MutableClock
) -> None:
    throttle = throttle_on(db, clock)
    for _ in range(3):
        await fail(throttle, "alice")
        clock.advance(timedelta(seconds=10))
    # the first failure (30 s ago) leaves the 60 s window in 30 s
    assert await refused(throttle, "alice") == 30
    assert await refused(throttle, "alice") == 30  # a refusal does not extend the block
    clock.advance(timedelta(seconds=30.5))
    await fail(throttle, "alice")  # the window slid: one more try
    assert await refused(throttle, "alice") == 10


async def test_accounts_are_counted_case_insensitively_and_apart(
    db: Database, clock: MutableClock
) -> None:
    throttle = throttle_on(db, clock, per_pair=RateLimit(2, 60))
    await fail(throttle, "Alice")
    await fail(throttle, " alice ")
    await refused(throttle, "ALICE")
    await succeed(throttle, "bob")


async def test_g16_an_attacker_elsewhere_never_makes_the_owners_password_fail(
    db: Database, clock: MutableClock
) -> None:
    sleeps = Sleeps()
    slowdown = Slowdown(after=3, first_delay=0.5, max_delay=2.0)
    throttle = throttle_on(db, clock, slowdown=slowdown, sleep=sleeps)
    for _ in range(3):
        await fail(throttle, "alice", ELSEWHERE)
    await refused(throttle, "alice", ELSEWHERE)  # the attacker's pair is blocked
    await fail(throttle, "alice", "198.51.100.1")  # attempts from anywhere are slowed down
    await fail(throttle, "alice", "198.51.100.2")
    await succeed(throttle, "alice", HOME)  # the owner logs in (slowly), never refused
    assert sleeps.asked == [0.0, 0.0, 0.0, 0.5, 1.0, 2.0]
    await succeed(throttle, "alice", HOME)  # the success cleared the account's failures
    assert sleeps.asked[-1] == 0.0


async def test_an_address_is_limited_across_accounts_and_a_success_does_not_clear_it(
    db: Database, clock: MutableClock
) -> None:
    throttle = throttle_on(db, clock, per_pair=RateLimit(5, 60), per_address=RateLimit(3, 60))
    await fail(throttle, "ann", ELSEWHERE)
    await fail(throttle, "ben", ELSEWHERE)
    await succeed(throttle, "mallory", ELSEWHERE)
    await fail(throttle, "cat", ELSEWHERE)
    await refused(throttle, "dan", ELSEWHERE)
    await succeed(throttle, "dan", HOME)


async def test_a_success_clears_the_pairs_failures(db: Database, clock: MutableClock) -> None:
    throttle = throttle_on(db, clock)
    await fail(throttle, "alice")
    await fail(throttle, "alice")
    await succeed(throttle, "alice")
    for _ in range(3):
        await fail(throttle, "alice")
    await refused(throttle, "alice")


async def test_attempts_in_flight_count_before_they_finish(
    db: Database, clock: MutableClock
) -> None:
    throttle = throttle_on(db, clock, per_pair=RateLimit(2, 60))
    async with throttle.attempt("alice", HOME) as first, throttle.attempt("alice", HOME) as second:
        await refused(throttle, "alice")
        first.succeeded()
        second.succeeded()


async def test_an_outage_is_not_counted_as_a_failed_guess(
    db: Database, clock: MutableClock
) -> None:
    throttle = throttle_on(db, clock, per_pair=RateLimit(1, 60))
    for _ in range(3):
        with pytest.raises(Unavailable):
            async with throttle.attempt("alice", HOME):
                raise Unavailable()
    await fail(throttle, "alice")
    await refused(throttle, "alice")


async def test_every_worker_and_every_restart_sees_the_same_counters(
    db: Database, db_url: str, clock: MutableClock
) -> None:
    first_worker = throttle_on(db, clock)
    other = Database(db_url)
    try:
        second_worker = throttle_on(other, clock)
        await fail(first_worker, "alice")
        await fail(second_worker, "alice")
        await fail(first_worker, "alice")
        await refused(second_worker, "alice")
    finally:
        await other.close()
    restarted = throttle_on(db, clock)  # a new process: the counters are in the database
    await refused(restarted, "alice")


async def test_registrations_are_limited_per_address(db: Database, clock: MutableClock) -> None:
    registrations = RegistrationThrottle(db, per_address=RateLimit(2, 3600), clock=clock)
    await registrations.attempt(ELSEWHERE)
    await registrations.attempt(ELSEWHERE)
    with pytest.raises(RateLimited) as caught:
        await registrations.attempt(ELSEWHERE)
    assert caught.value.retry_after == 3600
    await registrations.attempt(HOME)
    clock.advance(timedelta(hours=1, seconds=1))
    await registrations.attempt(ELSEWHERE)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RateLimit(0, 60)
    with pytest.raises(ValueError, match="positive window"):
        RateLimit(3, 0)
