"""The circuit breaker: open after consecutive failures, fail fast, one probe closes it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from shared.errors import (
    CircuitOpenError,
    RateLimitedError,
    RequestNotFoundError,
    ServerError,
)
from shared.guard.breaker import BreakerState, CircuitBreaker
from shared.lsq.client import CaptureStatusClient
from shared.lsq.models import StatusKind
from shared.lsq.upstream import in_process_transport
from shared.simulator import SAMPLES, Fault, FaultKind, Simulator
from tests.conftest import SIM_KEY, FakeClock, fast_options

CREATED = SAMPLES["created"].request_id


def test_consecutive_failures_open_the_circuit_and_an_answer_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3, open_seconds=30, clock=FakeClock())
    down = ServerError("down")
    for _ in range(2):
        breaker.before_call()
        breaker.record(down)
    breaker.record(RequestNotFoundError("no such id"))  # LeadSquared answered: it is up
    for _ in range(2):
        breaker.record(down)
    assert breaker.state is BreakerState.CLOSED
    breaker.record(down)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match="Try again in about 30 s") as caught:
        breaker.before_call("rid")
    assert caught.value.retry_after == 30
    assert caught.value.request_id == "rid"


def test_throttles_never_open_the_circuit() -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=FakeClock())
    for _ in range(5):
        breaker.record(RateLimitedError("slow down", http_status=429))
    assert breaker.state is BreakerState.CLOSED


def test_after_the_cool_off_one_probe_goes_and_decides() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, open_seconds=10, clock=clock)
    breaker.record(ServerError("down"))
    clock.advance(10)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.before_call() is True
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # a second caller does not probe too
    breaker.record(ServerError("still down"), probe=True)
    assert breaker.state is BreakerState.OPEN
    clock.advance(10)
    assert breaker.before_call() is True
    breaker.record(None, probe=True)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.before_call() is False


def test_a_cancelled_probe_lets_another_one_go() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, open_seconds=1, clock=clock)
    breaker.record(ServerError("down"))
    clock.advance(1)
    assert breaker.before_call() is True
    breaker.release_probe()
    assert breaker.before_call() is True


async def test_the_client_fails_fast_while_open_and_recovers_through_a_probe(
    sim_app: Starlette, sim: Simulator
) -> None:
    clock = FakeClock()
    client = CaptureStatusClient(
        fast_options(retry_attempts=1, breaker_failure_threshold=2, breaker_open_seconds=30),
        SecretStr(SIM_KEY),
        transport=in_process_transport(sim_app),
        clock=clock,
    )
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503))
    async with client:
        for _ in range(2):
            with pytest.raises(ServerError):
                await client.get_status(CREATED)
        with pytest.raises(CircuitOpenError, match="Try again in about 30 s"):
            await client.get_status(CREATED)
        assert len(sim.calls) == 2  # failing fast made no call
        sim.set_fault(None)
        clock.advance(30)
        assert (await client.get_status(CREATED)).status is StatusKind.SUCCESS
        assert client.breaker.state is BreakerState.CLOSED
        assert len(sim.calls) == 3
