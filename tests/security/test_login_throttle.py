"""Login rate limiting: a sliding window per account and per client address."""

from __future__ import annotations

import pytest

from lamina.domain import RateLimited, Unauthenticated, Unavailable
from lamina.security import LoginThrottle, RateLimit


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, account: str, address: str | None = "10.0.0.1") -> None:
    with pytest.raises(Unauthenticated), throttle.attempt(account, address):
        raise Unauthenticated("incorrect username or password")


def test_the_attempt_after_the_threshold_is_refused_with_retry_after() -> None:
    clock = FakeTime()
    throttle = LoginThrottle(per_account=RateLimit(3, 60), per_address=None, clock=clock)
    for _ in range(3):
        fail(throttle, "alice")
        clock.now += 10
    with pytest.raises(RateLimited) as refused:
        throttle.attempt("alice", "10.0.0.1")
    # the first failure (30 s ago) leaves the 60 s window in 30 s
    assert refused.value.retry_after == 30
    assert refused.value.details() == {"retry_after": 30}


def test_the_window_slides() -> None:
    clock = FakeTime()
    throttle = LoginThrottle(per_account=RateLimit(2, 60), per_address=None, clock=clock)
    fail(throttle, "alice")
    clock.now += 30
    fail(throttle, "alice")
    with pytest.raises(RateLimited):
        throttle.attempt("alice", None)
    clock.now += 30.5  # the first failure has left the window, the second has not
    fail(throttle, "alice")
    with pytest.raises(RateLimited) as refused:
        throttle.attempt("alice", None)
    assert refused.value.retry_after == 30


def test_refused_attempts_do_not_extend_the_block() -> None:
    clock = FakeTime()
    throttle = LoginThrottle(per_account=RateLimit(2, 60), per_address=None, clock=clock)
    fail(throttle, "alice")
    fail(throttle, "alice")
    for _ in range(10):
        clock.now += 5
        with pytest.raises(RateLimited):
            throttle.attempt("alice", None)
    clock.now += 10.5
    with throttle.attempt("alice", None) as attempt:
        attempt.succeeded()


def test_accounts_are_counted_case_insensitively_and_apart_from_each_other() -> None:
    throttle = LoginThrottle(per_account=RateLimit(2, 60), per_address=None, clock=FakeTime())
    fail(throttle, "Alice")
    fail(throttle, " alice ")
    with pytest.raises(RateLimited):
        throttle.attempt("ALICE", None)
    with throttle.attempt("bob", None) as attempt:
        attempt.succeeded()


def test_success_clears_the_account_record() -> None:
    throttle = LoginThrottle(per_account=RateLimit(3, 60), per_address=None, clock=FakeTime())
    fail(throttle, "alice")
    fail(throttle, "alice")
    with throttle.attempt("alice", None) as attempt:
        attempt.succeeded()
    fail(throttle, "alice")
    fail(throttle, "alice")
    fail(throttle, "alice")
    with pytest.raises(RateLimited):
        throttle.attempt("alice", None)


def test_an_address_is_limited_across_accounts() -> None:
    throttle = LoginThrottle(
        per_account=RateLimit(5, 60), per_address=RateLimit(3, 60), clock=FakeTime()
    )
    for name in ("ann", "ben", "cat"):
        fail(throttle, name, "203.0.113.9")
    with pytest.raises(RateLimited):
        throttle.attempt("dan", "203.0.113.9")
    with throttle.attempt("dan", "198.51.100.7") as attempt:
        attempt.succeeded()


def test_a_success_does_not_clear_the_address_record() -> None:
    throttle = LoginThrottle(
        per_account=RateLimit(5, 60), per_address=RateLimit(3, 60), clock=FakeTime()
    )
    fail(throttle, "ann", "203.0.113.9")
    fail(throttle, "ben", "203.0.113.9")
    with throttle.attempt("mallory", "203.0.113.9") as attempt:
        attempt.succeeded()
    fail(throttle, "cat", "203.0.113.9")
    with pytest.raises(RateLimited):
        throttle.attempt("dan", "203.0.113.9")


def test_attempts_in_flight_count_before_they_finish() -> None:
    throttle = LoginThrottle(per_account=RateLimit(2, 60), per_address=None, clock=FakeTime())
    first = throttle.attempt("alice", None)
    second = throttle.attempt("alice", None)
    with pytest.raises(RateLimited):
        throttle.attempt("alice", None)
    first.succeeded()
    second.succeeded()


def test_an_outage_is_not_counted_as_a_failed_guess() -> None:
    throttle = LoginThrottle(per_account=RateLimit(1, 60), per_address=None, clock=FakeTime())
    for _ in range(3):
        with pytest.raises(Unavailable), throttle.attempt("alice", None):
            raise Unavailable()
    fail(throttle, "alice")
    with pytest.raises(RateLimited):
        throttle.attempt("alice", None)


def test_memory_is_bounded_by_max_tracked_keys() -> None:
    throttle = LoginThrottle(
        per_account=RateLimit(1, 60), per_address=None, max_tracked_keys=3, clock=FakeTime()
    )
    for name in ("a", "b", "c", "d"):
        fail(throttle, name)
    assert len(throttle._attempts) == 3
    with throttle.attempt("a", None) as attempt:  # forgotten first
        attempt.succeeded()
    with pytest.raises(RateLimited):
        throttle.attempt("d", None)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RateLimit(0, 60)
    with pytest.raises(ValueError, match="positive window"):
        RateLimit(3, 0)
