"""The simulator's own moving window: 429 exactly when over the budget, by the fake clock."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from shared.simulator import (
    SAMPLES,
    CallRecord,
    MovingWindow,
    Simulator,
    SimulatorConfig,
    create_app,
)

from .conftest import API_KEY, METRICS_PATH, STATUS_PATH, FakeClock, in_process_client

CREATED_ID = SAMPLES["created"].request_id


async def _status(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get(STATUS_PATH, params={"RequestID": CREATED_ID})


async def test_the_26th_call_in_5_seconds_is_answered_429_with_the_documented_message(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    codes: list[int] = []
    for _ in range(25):
        codes.append((await _status(client)).status_code)
        clock.advance(0.1)

    over = await _status(client)

    assert codes == [200] * 25
    assert over.status_code == 429
    assert over.json() == {
        "Status": "Error",
        "Message": "API calls exceeded the limit of 25 in 5 second(s)",
    }
    assert "retry-after" not in over.headers


async def test_the_window_moves_a_call_leaves_it_exactly_rate_limit_seconds_later(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    first_at = clock.now
    assert (await _status(client)).status_code == 200
    clock.advance(1.0)
    for _ in range(24):
        assert (await _status(client)).status_code == 200
    clock.now = first_at + 4.999
    assert (await _status(client)).status_code == 429

    clock.now = first_at + 5.0

    assert (await _status(client)).status_code == 200
    assert (await _status(client)).status_code == 429


async def test_429_answers_do_not_count_against_the_window(
    client: httpx.AsyncClient, clock: FakeClock, simulator: Simulator
) -> None:
    for _ in range(25):
        await _status(client)
    clock.advance(1.0)
    for _ in range(10):
        assert (await _status(client)).status_code == 429

    # if refused calls counted, the window would still be full 5 s after the first burst
    clock.advance(4.0)

    assert (await _status(client)).status_code == 200
    assert simulator.count(status_code=429) == 10
    assert not any(call.counted for call in simulator.calls if call.status_code == 429)


async def test_status_metrics_and_capture_calls_share_one_window(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(10):
        await _status(client)
    for _ in range(10):
        await client.get(METRICS_PATH)
    for _ in range(5):
        await client.post("/opportunity/capture", json={"LeadDetails": [], "Opportunity": {}})

    assert (await client.get(METRICS_PATH)).status_code == 429


async def test_calls_with_a_wrong_key_do_not_spend_the_budget_of_the_right_key(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    async with in_process_client(app, api_key="someone-else") as stranger:
        for _ in range(30):
            assert (await _status(stranger)).status_code == 401

    assert (await _status(client)).status_code == 200


async def test_retry_after_is_sent_only_when_configured_as_whole_seconds_until_room(
    clock: FakeClock,
) -> None:
    app = create_app(
        SimulatorConfig(api_key=API_KEY, clock=clock, send_retry_after=True, rate_limit_calls=2)
    )
    async with in_process_client(app) as client:
        await _status(client)
        clock.advance(1.2)
        await _status(client)
        clock.advance(0.5)

        over = await _status(client)

    assert over.status_code == 429
    # the first call leaves the window 5 s after it was made: 3.3 s from now, rounded up
    assert over.headers["retry-after"] == "4"
    assert over.json()["Message"] == "API calls exceeded the limit of 2 in 5 second(s)"


async def test_the_limit_in_the_message_follows_the_configuration(clock: FakeClock) -> None:
    app = create_app(
        SimulatorConfig(api_key=API_KEY, clock=clock, rate_limit_calls=1, rate_limit_seconds=2.5)
    )
    async with in_process_client(app) as client:
        await _status(client)
        over = await _status(client)

    assert over.json()["Message"] == "API calls exceeded the limit of 1 in 2.5 second(s)"


async def test_max_calls_in_any_window_counts_refused_calls_too(
    client: httpx.AsyncClient, clock: FakeClock, simulator: Simulator
) -> None:
    for _ in range(30):
        await _status(client)
        clock.advance(0.01)

    # 25 admitted and 5 refused: all 30 were sent inside one window
    assert simulator.max_calls_in_any_window(5.0) == 30
    assert simulator.count() == 30
    assert simulator.count(status_code=200, path=STATUS_PATH) == 25


def _call(at: float, *, counted: bool = True) -> CallRecord:
    return CallRecord(at=at, method="GET", path=STATUS_PATH, status_code=200, counted=counted)


@pytest.mark.parametrize(
    ("times", "seconds", "expected"),
    [
        ([], 5.0, 0),
        ([0.0], 5.0, 1),
        ([0.0, 1.0, 2.0, 5.0, 6.0], 5.0, 3),
        ([0.0, 4.9, 5.0], 5.0, 2),
        ([3.0, 1.0, 2.0], 5.0, 3),
        ([0.0, 0.0, 0.0, 10.0], 1.0, 3),
    ],
)
def test_max_calls_in_any_window_uses_half_open_periods(
    simulator: Simulator, times: list[float], seconds: float, expected: int
) -> None:
    for at in times:
        simulator.record(_call(at))
    simulator.record(_call(0.5, counted=False))

    assert simulator.max_calls_in_any_window(seconds) == expected


def test_a_moving_window_admits_the_limit_then_refuses_until_the_oldest_call_leaves() -> None:
    window = MovingWindow(3, 5.0)

    assert [window.try_admit(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert window.seconds_until_room(3.0) == pytest.approx(2.0)
    assert window.retry_after_header(3.0) == "2"
    assert window.try_admit(5.0) is True
    assert window.seconds_until_room(5.0) == pytest.approx(1.0)


def test_a_moving_window_rejects_an_impossible_limit() -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        MovingWindow(0, 5.0)
