"""The optional queue model: each account's submissions served in order at a random pace,
some through ERROR first, with queue metrics that follow (``SimulatorConfig.queue``)."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette

from shared.simulator import (
    ERROR_RETRY_PAUSES,
    QueueModel,
    SimulatedAccount,
    Simulator,
    SimulatorConfig,
    create_app,
)
from shared.simulator.__main__ import parse_options

from .conftest import API_KEY, METRICS_PATH, STATUS_PATH, FakeClock, in_process_client
from .test_capture import capture_body

#: the seeded samples that stay In-Queue forever (counted as pending by every metrics answer)
SEEDED_PENDING = 2


def _simulator(clock: FakeClock, **queue: Any) -> tuple[Starlette, Simulator]:
    accounts = (SimulatedAccount(name="eu", api_key="eu-key-1"),)
    app = create_app(
        SimulatorConfig(api_key=API_KEY, accounts=accounts, clock=clock, queue=QueueModel(**queue))
    )
    simulator: Simulator = app.state.simulator
    return app, simulator


def _burst(simulator: Simulator, count: int, account: str = "default") -> list[str]:
    return [simulator.submit(capture_body(f"lead{n}@example.com"), account) for n in range(count)]


async def _status(app: Starlette, request_id: str) -> str:
    async with in_process_client(app) as client:
        response = await client.get(STATUS_PATH, params={"RequestID": request_id})
    status: str = response.json()["TaskStatus"]["Status"]
    return status


def _status_now(simulator: Simulator, request_id: str) -> str:
    envelope = simulator.status_envelope(request_id)
    assert envelope is not None
    status: str = envelope["TaskStatus"]["Status"]
    return status


async def _metrics(client: httpx.AsyncClient) -> dict[str, Any]:
    answer: dict[str, Any] = (await client.get(METRICS_PATH)).json()
    return answer


def test_without_a_queue_model_every_submission_is_final_after_processing_seconds() -> None:
    clock = FakeClock()
    simulator = Simulator(SimulatorConfig(api_key=API_KEY, clock=clock, processing_seconds=8))
    ids = _burst(simulator, 3)

    assert simulator.finish_times() == dict.fromkeys(ids, clock.now + 8)


def test_a_burst_finishes_in_submission_order_at_random_times_spread_over_minutes() -> None:
    clock = FakeClock()
    _, simulator = _simulator(clock, rate_per_minute=20, seed=3)
    start = clock.now

    ids = _burst(simulator, 60)

    finish = simulator.finish_times()
    times = [finish[rid] for rid in ids]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    gaps = [b - a for a, b in zip([start, *times], times, strict=False)]
    assert min(gaps) > 0
    assert max(gaps) > 3 * min(gaps)  # random service times, not a fixed step
    # 60 requests at 20 per minute: about three minutes (the sum of 60 random times)
    assert 120 < times[-1] - start < 260


async def test_a_request_is_in_queue_until_its_turn_then_final(
    clock: FakeClock,
) -> None:
    app, simulator = _simulator(clock, rate_per_minute=30, seed=1)
    first, second = _burst(simulator, 2)
    finish = simulator.finish_times()

    clock.now = finish[first] - 0.001
    assert [await _status(app, first), await _status(app, second)] == ["In-Queue", "In-Queue"]
    clock.now = finish[first]
    assert [await _status(app, first), await _status(app, second)] == ["Success", "In-Queue"]
    clock.now = finish[second]
    assert await _status(app, second) == "Success"


def test_a_submission_to_an_idle_queue_starts_when_it_arrives() -> None:
    clock = FakeClock()
    _, simulator = _simulator(clock, rate_per_minute=60, seed=2)
    [early] = _burst(simulator, 1)
    clock.advance(3600)  # long after the first was processed

    [late] = _burst(simulator, 1)

    finish = simulator.finish_times()
    assert finish[early] < clock.now < finish[late]


async def test_the_metrics_follow_the_queue(clock: FakeClock) -> None:
    app, simulator = _simulator(clock, rate_per_minute=12, seed=5)
    start = clock.now
    ids = _burst(simulator, 10)
    finish = simulator.finish_times()
    last = finish[ids[-1]]

    async with in_process_client(app) as client:
        queued = await _metrics(client)
        clock.now = finish[ids[3]]  # four processed
        partly = await _metrics(client)
        clock.now = last + 1
        drained = await _metrics(client)

    assert queued["PendingMessages"] == 10 + SEEDED_PENDING
    # the time until everything queued now is processed
    assert queued["MaxDelayInSeconds"] == math.ceil(last - start)
    assert queued["ProcessingratePerMinute"] == 0.0
    assert partly["PendingMessages"] == 6 + SEEDED_PENDING
    assert partly["MaxDelayInSeconds"] == math.ceil(last - finish[ids[3]])
    assert partly["ProcessingratePerMinute"] == 0.4  # 4 in the last ten minutes
    assert drained == {
        "PendingMessages": SEEDED_PENDING,
        "MaxDelayInSeconds": 0,
        "ProcessingratePerMinute": 1.0,
    }


def test_the_same_seed_repeats_the_same_times_and_a_reset_replays_them() -> None:
    clock = FakeClock()
    _, one = _simulator(clock, rate_per_minute=20, seed=9)
    _, two = _simulator(clock, rate_per_minute=20, seed=9)
    _, other = _simulator(clock, rate_per_minute=20, seed=10)

    def offsets(simulator: Simulator) -> list[float]:
        ids = _burst(simulator, 20)
        finish = simulator.finish_times()
        return [finish[rid] - clock.now for rid in ids]

    first = offsets(one)
    assert offsets(two) == first
    assert offsets(other) != first
    one.reset()
    assert offsets(one) == first


def test_each_account_has_its_own_queue() -> None:
    clock = FakeClock()
    _, simulator = _simulator(clock, rate_per_minute=20, seed=4)
    main = _burst(simulator, 30)

    [eu] = _burst(simulator, 1, account="eu")

    # the eu request does not wait behind the 30 of the default account
    assert simulator.finish_times("eu")[eu] < simulator.finish_times()[main[-1]]


def test_a_queue_not_in_order_finishes_each_request_at_an_independent_time_within_the_spread() -> (
    None
):
    clock = FakeClock()
    _, simulator = _simulator(clock, in_order=False, spread_seconds=600, seed=6)
    start = clock.now

    ids = _burst(simulator, 50)

    times = [simulator.finish_times()[rid] for rid in ids]
    assert all(start <= t <= start + 600 for t in times)
    assert times != sorted(times)
    assert max(times) - min(times) > 300


async def test_a_request_going_through_error_first_answers_error_until_leadsquared_retried_it(
    clock: FakeClock,
) -> None:
    app, simulator = _simulator(clock, rate_per_minute=60, error_share=1.0, error_retries=2)
    [rid] = _burst(simulator, 1)
    final_at = simulator.finish_times()[rid]
    processed_at = final_at - ERROR_RETRY_PAUSES[0] - ERROR_RETRY_PAUSES[1]

    clock.now = processed_at - 0.001
    assert await _status(app, rid) == "In-Queue"
    clock.now = processed_at
    async with in_process_client(app) as client:
        task = (await client.get(STATUS_PATH, params={"RequestID": rid})).json()["TaskStatus"]
        metrics = await _metrics(client)
    assert task["Status"] == "ERROR"
    assert task["StatusReason"] == "Unable to Connect to DB"
    assert task["Message"] is None
    assert metrics["PendingMessages"] == SEEDED_PENDING  # it left the queue
    clock.now = final_at - 0.001
    assert await _status(app, rid) == "ERROR"
    clock.now = final_at
    assert await _status(app, rid) == "Success"


def test_only_the_given_share_goes_through_error() -> None:
    clock = FakeClock()
    _, simulator = _simulator(clock, rate_per_minute=60, error_share=0.25, error_retries=10, seed=8)
    ids = _burst(simulator, 400)
    clock.advance(3600)  # every one processed (about 400 s), none retried ten times yet

    statuses = [_status_now(simulator, rid) for rid in ids]

    assert set(statuses) == {"Success", "ERROR"}
    assert 60 < statuses.count("ERROR") < 140


def test_a_queue_model_needs_as_many_retry_pauses_as_retries() -> None:
    with pytest.raises(ValidationError, match="retry_pauses"):
        QueueModel(error_retries=3, retry_pauses=(30.0, 120.0))
    with pytest.raises(ValidationError):
        QueueModel(rate_per_minute=0)
    with pytest.raises(ValidationError):
        QueueModel(error_share=1.5)


def test_the_command_line_serves_a_queue_when_given_a_rate() -> None:
    assert parse_options([]).config.queue is None

    options = parse_options(["--queue-rate", "20", "--error-share", "0.1", "--seed", "3"])

    assert options.config.queue == QueueModel(rate_per_minute=20, error_share=0.1, seed=3)


def test_an_error_share_without_a_queue_rate_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options(["--error-share", "0.5"])

    assert exited.value.code == 2
    assert "--error-share needs --queue-rate" in capsys.readouterr().err
