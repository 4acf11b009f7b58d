"""The login throttle's arithmetic on a clock the test moves: waits, forgiveness, bounds."""

from __future__ import annotations

import pytest

from coldchain_alerts.auth import MAX_WAIT_S, PER_ADDRESS, PER_NAME_AND_ADDRESS, LoginThrottle

DAY = 24 * 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _waits(
    throttle: LoginThrottle, clock: Clock, attempts: int, name: str, address: str
) -> list[float]:
    """The wait before each of `attempts` failing attempts, each made as soon as allowed."""
    waits = []
    for _ in range(attempts):
        wait = throttle.attempt(name, address)
        if wait:
            waits.append(wait)
            clock.now += wait
            assert throttle.attempt(name, address) == 0
        else:
            waits.append(0.0)
    return waits


def test_free_failures_then_waits_that_double_towards_the_longest() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    waits = _waits(throttle, clock, 40, "hygiene", "10.0.0.66")
    free = PER_NAME_AND_ADDRESS.free
    assert waits[: free + 1] == [0.0] * (free + 1)
    # Doubling, and less as the waits grow: a failure's forgiveness goes on while one waits.
    assert waits[free + 1 : free + 5] == pytest.approx([1.0, 2.0, 4.0, 8.0], rel=0.01)
    assert waits[free + 1 :] == sorted(waits[free + 1 :])
    assert MAX_WAIT_S / 2 < waits[-1] <= MAX_WAIT_S


def test_attempts_at_once_do_not_all_pass() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    allowed = [throttle.attempt("hygiene", "10.0.0.66") == 0 for _ in range(1000)]
    assert sum(allowed) == PER_NAME_AND_ADDRESS.free + 1


def test_failures_elsewhere_never_slow_the_owner_at_her_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for n in range(200):
        _waits(throttle, clock, 20, "Hygiene", f"10.0.{n // 250}.{n % 250}")
    assert throttle.attempt("hygiene", "192.0.2.7") == 0


def test_a_login_forgets_its_failures_and_takes_back_its_attempt() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(PER_NAME_AND_ADDRESS.free):
        assert throttle.attempt("hygiene", "192.0.2.7") == 0
    assert throttle.attempt("hygiene", "192.0.2.7") == 0
    throttle.succeeded("hygiene", "192.0.2.7")
    # Mistyped four times, then logged in: the next mistakes are free again.
    assert _waits(throttle, clock, PER_NAME_AND_ADDRESS.free + 1, "hygiene", "192.0.2.7") == [
        0.0
    ] * (PER_NAME_AND_ADDRESS.free + 1)


def test_failures_are_forgiven_as_time_passes() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    _waits(throttle, clock, 12, "hygiene", "10.0.0.66")
    assert throttle.attempt("hygiene", "10.0.0.66") > 0
    clock.now += DAY
    assert _waits(throttle, clock, PER_NAME_AND_ADDRESS.free + 1, "hygiene", "10.0.0.66") == [
        0.0
    ] * (PER_NAME_AND_ADDRESS.free + 1)


def test_one_name_from_one_address_gets_about_a_guess_a_quarter_hour() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    start, guesses = clock.now, 0
    while clock.now - start < DAY:
        wait = throttle.attempt("hygiene", "10.0.0.66")
        clock.now += wait
        guesses += wait == 0
    assert guesses <= DAY / PER_NAME_AND_ADDRESS.forgiven_s + 20


def test_many_names_from_one_address_get_about_a_guess_a_minute() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    start, guesses = clock.now, 0
    while clock.now - start < DAY:
        wait = throttle.attempt(f"user-{guesses}", "10.0.0.66")
        clock.now += wait
        guesses += wait == 0
    assert guesses <= DAY / PER_ADDRESS.forgiven_s + PER_ADDRESS.free + 20
    # And the officer's own address is not slowed by any of it.
    assert throttle.attempt("hygiene", "192.0.2.7") == 0


def test_the_addresses_of_one_ipv6_subscriber_are_one_place() -> None:
    """A subscriber has a /64 (or more): guessing from 300 of its addresses is slowed as
    from one (a review got 300 guesses through unslowed)."""
    clock = Clock()
    throttle = LoginThrottle(clock)
    answered = [throttle.attempt("hygiene", f"2001:db8:1:2::{n:x}") for n in range(1, 301)]
    assert sum(1 for wait in answered if wait == 0) <= PER_NAME_AND_ADDRESS.free + 1
    assert throttle.attempt("hygiene", "2001:db8:1:3::1") == 0, "another subscriber"
    assert throttle.attempt("hygiene", "::ffff:10.0.0.66") == 0, "IPv4, written as IPv6"
