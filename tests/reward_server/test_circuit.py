"""The circuit breaker's state machine, on a hand-driven clock."""

import pytest

from reward_server.judging.circuit import CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only():
    breaker = CircuitBreaker(failure_threshold=3, reset_after=10.0, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success in between resets the run
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and breaker.opened == 1
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    assert breaker.rejected == 1


def test_half_open_lets_exactly_one_probe_through():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after=10.0, clock=clock)
    breaker.record_failure()
    clock.now = 9.9
    assert breaker.state == "open" and breaker.retry_in() == pytest.approx(0.1)
    clock.now = 10.0
    assert breaker.state == "half_open"
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller waits for the probe's outcome


def test_failed_probe_reopens_successful_probe_closes():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after=5.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now = 5.0
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open" and breaker.retry_in() == pytest.approx(5.0)
    assert breaker.opened == 1  # still the same outage
    clock.now = 10.0
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.consecutive_failures == 0
    breaker.before_call()
    breaker.before_call()  # closed: everyone may call
    assert breaker.state == "closed" and breaker.rejected == 0


def test_an_abandoned_probe_frees_the_slot():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after=1.0, clock=clock)
    breaker.record_failure()
    clock.now = 1.0
    breaker.before_call()
    breaker.record_abandoned()  # e.g. cancelled at shutdown: says nothing about the LLM
    breaker.before_call()  # another probe may go


def test_threshold_must_be_positive():
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
