"""The circuit breaker on an injected clock: closed → open → half-open → closed or open again."""

from __future__ import annotations

from timebase.gateway.circuit_breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3, reset_after: float = 30.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(failure_threshold=threshold, reset_after=reset_after, clock=clock), clock


def test_defaults() -> None:
    b = CircuitBreaker()
    assert (b.failure_threshold, b.reset_after) == (3, 30.0)


def test_an_unknown_provider_is_closed() -> None:
    b, _ = breaker()
    assert b.state("a") == "closed"
    assert b.allows("a")
    assert b.retry_in("a") == 0.0
    assert b.begin("a")
    assert b.state("a") == "closed"
    b.success("a")  # a success with nothing recorded is fine
    assert b.state("a") == "closed"


def test_opens_after_threshold_failures_in_a_row() -> None:
    b, clock = breaker(threshold=3)
    b.failure("a")
    b.failure("a")
    assert b.state("a") == "closed"
    assert b.allows("a")
    assert b.retry_in("a") == 0.0
    clock.now += 5.0
    b.failure("a")
    assert b.state("a") == "open"
    assert not b.allows("a")
    assert not b.begin("a")
    assert b.retry_in("a") == 30.0
    assert b.state("b") == "closed"


def test_a_success_resets_the_count() -> None:
    b, _ = breaker(threshold=2)
    b.failure("a")
    b.success("a")
    b.failure("a")
    assert b.state("a") == "closed"
    b.failure("a")
    assert b.state("a") == "open"


def test_half_open_exactly_after_reset_after_with_one_trial() -> None:
    b, clock = breaker(threshold=1, reset_after=30.0)
    b.failure("a")
    clock.now += 29.5
    assert b.state("a") == "open"
    assert b.retry_in("a") == 0.5
    clock.now += 0.5
    assert b.state("a") == "half_open"
    assert b.retry_in("a") == 0.0
    assert b.allows("a")
    assert b.begin("a")  # the trial
    assert b.state("a") == "half_open"
    assert not b.allows("a")
    assert not b.begin("a")  # a second caller waits for the trial
    clock.now += 100.0
    assert b.retry_in("a") == 0.0


def test_a_successful_trial_closes_the_circuit() -> None:
    b, clock = breaker(threshold=1)
    b.failure("a")
    clock.now += 30.0
    assert b.begin("a")
    b.success("a")
    assert b.state("a") == "closed"
    assert b.begin("a")
    assert b.begin("a")


def test_a_failed_trial_opens_it_again_for_a_full_period() -> None:
    b, clock = breaker(threshold=3)
    for _ in range(3):
        b.failure("a")
    clock.now += 31.0
    assert b.begin("a")
    b.failure("a")  # one failure is enough once the circuit has opened
    assert b.state("a") == "open"
    assert b.retry_in("a") == 30.0
    clock.now += 30.0
    assert b.state("a") == "half_open"
    assert b.allows("a")


def test_release_gives_the_trial_back_without_a_verdict() -> None:
    b, clock = breaker(threshold=1)
    b.release("a")  # nothing reserved: no effect
    assert b.state("a") == "closed"
    b.failure("a")
    clock.now += 30.0
    assert b.begin("a")
    assert not b.allows("a")
    b.release("a")
    assert b.state("a") == "half_open"
    assert b.allows("a")
    assert b.begin("a")


def test_begin_while_closed_does_not_reserve_a_trial() -> None:
    b, clock = breaker(threshold=2)
    b.failure("a")
    assert b.begin("a")
    b.failure("a")
    clock.now += 30.0
    # The failure cleared the reservation: the half-open trial is free.
    assert b.allows("a")
    assert b.begin("a")
    assert not b.begin("a")
