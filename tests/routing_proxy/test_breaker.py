"""Circuit breaker state machine, driven by an injected clock."""

from __future__ import annotations

import pytest

from routing_proxy.breaker import BreakerState, CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(CircuitBreaker, "clock", staticmethod(fake))
    return fake


def test_opens_after_threshold_consecutive_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_after=10)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_a_success_resets_the_consecutive_failure_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_after=10)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_through_and_success_closes(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_after=10)
    breaker.record_failure()
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # the probe is still in flight
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_a_failed_probe_reopens_for_a_full_period(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_after=10)
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
