"""wait_for_final: checks until final or timeout, pauses within the budget, honours errors."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from shared.errors import (
    AuthenticationError,
    InvalidRequestIdError,
    RateLimitedError,
    RequestNotFoundError,
    ServerError,
)
from shared.guard.cache import CacheTtls
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.lsq.models import StatusKind
from shared.lsq.upstream import in_process_transport
from shared.service.waiting import PollSchedule, WaitOutcome, WaitProgress, wait_for_final
from shared.simulator import (
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Fault,
    FaultKind,
    Simulator,
    SimulatorConfig,
    create_app,
)
from shared.simulator.server import serve_simulator
from tests.conftest import SIM_KEY, FakeClock, fast_options

CREATED = SAMPLES["created"].request_id
IN_QUEUE_FOREVER = SAMPLES["in_queue"].request_id
PROCESSING_SECONDS = 20.0


def capture_body(n: int = 0) -> dict[str, Any]:
    return {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": f"wait{n}@example.com"},
            {"Attribute": "SearchBy", "Value": "EmailAddress"},
        ],
        "Opportunity": {
            "OpportunityEventCode": 12000,
            "Fields": [{"SchemaName": "mx_Custom_1", "Value": f"Deal {n}"}],
        },
    }


class FakeTime:
    """One fake clock for the simulator, the client and the wait; sleeping moves it."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.pauses: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def app(fake_time: FakeTime) -> Starlette:
    return create_app(
        SimulatorConfig(
            api_key=SIM_KEY, clock=fake_time.clock, processing_seconds=PROCESSING_SECONDS
        )
    )


@pytest.fixture
def simulator(app: Starlette) -> Simulator:
    sim: Simulator = app.state.simulator
    return sim


@pytest.fixture
async def client(app: Starlette, fake_time: FakeTime) -> Any:
    async with CaptureStatusClient(
        fast_options(),
        SecretStr(SIM_KEY),
        transport=in_process_transport(app),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    ) as made:
        yield made


async def wait(
    client: CaptureStatusClient,
    fake_time: FakeTime,
    request_id: str,
    timeout_seconds: float,
    progress: list[WaitProgress] | None = None,
) -> WaitOutcome:
    async def on_progress(step: WaitProgress) -> None:
        if progress is not None:
            progress.append(step)

    return await wait_for_final(
        client,
        request_id,
        timeout_seconds=timeout_seconds,
        on_progress=on_progress,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )


async def test_a_final_status_ends_the_wait_after_one_check_without_pausing(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    progress: list[WaitProgress] = []
    outcome = await wait(client, fake_time, CREATED, 60, progress)
    assert outcome.finished
    assert not outcome.timed_out
    assert outcome.status is not None
    assert outcome.status.status is StatusKind.SUCCESS
    assert outcome.checks == 1
    assert fake_time.pauses == []
    assert len(simulator.calls) == 1
    assert [p.next_check_in_seconds for p in progress] == [None]


async def test_a_cached_final_status_ends_the_wait_without_any_upstream_call(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    await client.get_status(CREATED)
    simulator.reset_calls()
    outcome = await wait(client, fake_time, CREATED, 60)
    assert outcome.finished
    assert simulator.calls == []


async def test_a_request_that_finishes_mid_wait_returns_as_soon_as_a_check_sees_it(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    rid = simulator.submit(capture_body())
    progress: list[WaitProgress] = []
    outcome = await wait(client, fake_time, rid, 600, progress)
    assert outcome.finished
    assert outcome.status is not None
    assert outcome.status.status is StatusKind.SUCCESS
    # default schedule from fast_options (pending TTL 5 s): 5, 7.5, 11.25 -> 23.75 s >= 20 s
    assert fake_time.pauses == [5.0, 7.5, 11.25]
    assert outcome.elapsed_seconds == pytest.approx(23.75)
    assert outcome.checks == 4
    assert [p.status.status for p in progress if p.status] == [StatusKind.IN_QUEUE] * 3 + [
        StatusKind.SUCCESS
    ]
    assert [p.next_check_in_seconds for p in progress] == [5.0, 7.5, 11.25, None]
    assert len(simulator.calls) == 4


async def test_the_wait_ends_by_the_timeout_with_the_last_status_and_a_last_check_before_the_end(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    outcome = await wait(client, fake_time, IN_QUEUE_FOREVER, 10)
    assert outcome.timed_out
    assert not outcome.finished
    assert outcome.status is not None
    assert outcome.status.status is StatusKind.IN_QUEUE
    assert outcome.last_error is None
    # 5, then not 7.5 but up to the last check, 1 s (last_check_seconds) before the end
    assert fake_time.pauses == [5.0, 4.0]
    assert outcome.elapsed_seconds == pytest.approx(9)
    assert outcome.checks == 3
    assert len(simulator.calls) == 3


async def test_a_zero_timeout_checks_exactly_once(
    client: CaptureStatusClient, fake_time: FakeTime
) -> None:
    outcome = await wait(client, fake_time, IN_QUEUE_FOREVER, 0)
    assert outcome.checks == 1
    assert outcome.timed_out
    assert fake_time.pauses == []


@pytest.mark.parametrize("seconds", [-1.0, float("inf"), float("nan")])
async def test_a_negative_or_infinite_timeout_is_refused(
    client: CaptureStatusClient, fake_time: FakeTime, seconds: float
) -> None:
    with pytest.raises(ValueError, match="timeout_seconds"):
        await wait(client, fake_time, CREATED, seconds)


async def test_an_invalid_id_is_refused_before_any_upstream_call(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    with pytest.raises(InvalidRequestIdError):
        await wait(client, fake_time, "not an id", 60)
    assert simulator.calls == []


async def test_an_unknown_id_ends_the_wait_with_the_not_found_error(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    with pytest.raises(RequestNotFoundError):
        await wait(client, fake_time, UNKNOWN_REQUEST_ID, 60)
    assert len(simulator.calls) == 1
    assert fake_time.pauses == []


async def test_a_refused_api_key_ends_the_wait_at_once(
    app: Starlette, fake_time: FakeTime, simulator: Simulator
) -> None:
    async with CaptureStatusClient(
        fast_options(), SecretStr("wrong-key"), transport=in_process_transport(app)
    ) as client:
        with pytest.raises(AuthenticationError):
            await wait(client, fake_time, CREATED, 60)
    assert fake_time.pauses == []


async def test_server_errors_do_not_end_the_wait_which_goes_on_until_the_request_is_final(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    rid = simulator.submit(capture_body())
    attempts = client.options.retry_attempts
    # the first check fails after all its attempts; the next one gets through
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=attempts))
    progress: list[WaitProgress] = []
    outcome = await wait(client, fake_time, rid, 600, progress)
    assert outcome.finished
    assert outcome.last_error is None
    assert isinstance(progress[0].error, ServerError)
    assert progress[0].status is None
    assert progress[1].error is None
    assert outcome.status is not None
    assert outcome.status.status is StatusKind.SUCCESS


async def test_a_wait_that_only_ever_saw_errors_times_out_with_the_last_error(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=502))
    outcome = await wait(client, fake_time, CREATED, 12)
    assert outcome.timed_out
    assert outcome.status is None
    assert isinstance(outcome.last_error, ServerError)
    assert fake_time.pauses == [5.0, 6.0]  # checks at 0, 5 and 11: the last 1 s before the end
    assert outcome.elapsed_seconds == pytest.approx(11)


async def test_a_throttle_with_retry_after_makes_the_wait_pause_at_least_that_long(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    rid = simulator.submit(capture_body())
    # 40 s is beyond the lookup deadline, so the client gives up at once and the wait backs off
    simulator.set_fault(Fault(kind=FaultKind.RATE_LIMITED, retry_after=40, remaining=1))
    outcome = await wait(client, fake_time, rid, 600)
    assert fake_time.pauses[0] >= 40
    assert outcome.finished
    assert simulator.count(status_code=429) == 1


async def test_a_cooldown_that_outlasts_the_wait_ends_it_before_the_next_check_with_the_throttle(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    async def throttled_elsewhere(step: WaitProgress) -> None:
        if step.checks == 1:  # another lookup of this account is throttled meanwhile
            await client.cooldown.start(30)

    outcome = await wait_for_final(
        client,
        IN_QUEUE_FOREVER,
        timeout_seconds=10,
        on_progress=throttled_elsewhere,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    assert outcome.timed_out
    assert outcome.status is not None
    assert outcome.status.status is StatusKind.IN_QUEUE
    assert isinstance(outcome.last_error, RateLimitedError)
    assert outcome.last_error.retry_after == pytest.approx(25)
    assert outcome.checks == 1
    assert fake_time.pauses == [5.0]
    assert len(simulator.calls) == 1


async def test_a_retry_after_beyond_the_timeout_ends_the_wait_at_once_with_the_throttle(
    client: CaptureStatusClient, fake_time: FakeTime, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.RATE_LIMITED, retry_after=40))
    outcome = await wait(client, fake_time, IN_QUEUE_FOREVER, 30)
    assert outcome.timed_out
    assert isinstance(outcome.last_error, RateLimitedError)
    assert fake_time.pauses == []  # no sleeping into a cooldown that ends after the wait
    assert outcome.elapsed_seconds == 0
    assert simulator.count(status_code=429) == 1


# Real time from here: the client's backoff and cooldown really sleep, so only a wait that
# bounds its checks by the time left returns within its timeout (plus a margin for the loop).
MARGIN_SECONDS = 1.0


@pytest.fixture
async def real_time_client(app: Starlette) -> Any:
    """A client on the real clock, with LeadSquared's cooldown (5 s) inside its deadline."""
    options = fast_options(
        deadline_seconds=10.0,
        backoff_initial_seconds=0.7,
        backoff_max_seconds=0.7,
        backoff_jitter_seconds=0.0,
    )
    async with CaptureStatusClient(
        options, SecretStr(SIM_KEY), transport=in_process_transport(app)
    ) as made:
        yield made


async def test_under_server_errors_the_wait_returns_within_its_timeout_with_the_server_error(
    real_time_client: CaptureStatusClient, simulator: Simulator
) -> None:
    # one check is three 503s 0.7 s apart (1.4 s): a second one cannot fit in the 2 s
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503))
    timeout = 2.0
    async with asyncio.timeout(timeout + MARGIN_SECONDS):
        outcome = await wait_for_final(real_time_client, IN_QUEUE_FOREVER, timeout_seconds=timeout)
    assert outcome.timed_out
    assert outcome.status is None
    assert isinstance(outcome.last_error, ServerError)
    assert outcome.last_error.http_status == 503
    assert outcome.elapsed_seconds <= timeout


@pytest.mark.parametrize(
    "fault",
    [Fault(kind=FaultKind.RATE_LIMITED), Fault(kind=FaultKind.MX_THROTTLE)],
    ids=["429-without-retry-after", "mx-throttle"],
)
async def test_under_a_throttle_the_wait_returns_within_its_timeout_and_blames_the_throttle(
    real_time_client: CaptureStatusClient, simulator: Simulator, fault: Fault
) -> None:
    # the client would wait out the 5 s cooldown and retry; the wait stops at its 1.5 s
    simulator.set_fault(fault)
    timeout = 1.5
    async with asyncio.timeout(timeout + MARGIN_SECONDS):
        outcome = await wait_for_final(real_time_client, IN_QUEUE_FOREVER, timeout_seconds=timeout)
    assert outcome.timed_out
    assert outcome.status is None
    assert isinstance(outcome.last_error, RateLimitedError)
    assert outcome.last_error.retry_after is not None
    assert 0 < outcome.last_error.retry_after <= 5
    assert "throttled" in outcome.last_error.message
    assert outcome.elapsed_seconds <= timeout + 0.1
    assert real_time_client.stats.throttles == 1


def test_pauses_grow_to_the_maximum_and_never_drop_below_the_cache_ttl_or_budget_share() -> None:
    options = ClientOptions(
        base_url="http://sim", budget_calls=23, budget_seconds=5, cache_ttls=CacheTtls(pending=5)
    )
    pauses = list(itertools.islice(PollSchedule().pauses(options), 8))
    assert pauses == [5.0, 7.5, 11.25, 15.0, 15.0, 15.0, 15.0, 15.0]

    no_cache = ClientOptions(
        base_url="http://sim", budget_calls=2, budget_seconds=5, cache_ttls=CacheTtls(pending=0)
    )
    # 2 calls per 5 s, a quarter of them for one wait: at most one check every 10 s
    schedule = PollSchedule(first_seconds=1, max_seconds=4)
    assert schedule.floor_seconds(no_cache) == 10
    assert list(itertools.islice(schedule.pauses(no_cache), 3)) == [10.0, 10.0, 10.0]

    generous = ClientOptions(
        base_url="http://sim", budget_calls=100, budget_seconds=1, cache_ttls=CacheTtls(pending=0)
    )
    assert list(itertools.islice(PollSchedule().pauses(generous), 3)) == [2.0, 3.0, 4.5]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_seconds": 0},
        {"max_seconds": -1},
        {"growth": 0.5},
        {"budget_share": 0},
        {"budget_share": 1.5},
        {"last_check_seconds": 0},
    ],
)
def test_a_schedule_that_could_hammer_leadsquared_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|share"):
        PollSchedule(**kwargs)


async def test_several_waits_at_once_stay_inside_the_budget_and_are_never_throttled() -> None:
    # Real time, scaled down: a 1-s window of 4 calls, eight waits that would like far more.
    limit, window = 4, 1
    app = create_app(
        SimulatorConfig(
            api_key=SIM_KEY,
            rate_limit_calls=limit,
            rate_limit_seconds=window,
            processing_seconds=0.6,
        )
    )
    sim: Simulator = app.state.simulator
    ids = [sim.submit(capture_body(n)) for n in range(8)]
    schedule = PollSchedule(first_seconds=0.05, max_seconds=0.2, budget_share=1.0)
    async with (
        serve_simulator(app) as url,
        CaptureStatusClient(
            fast_options(
                url,
                budget_calls=limit,
                budget_seconds=window,
                budget_guard_seconds=0.1,
                cache_ttls=CacheTtls(pending=0),
                deadline_seconds=15.0,
            ),
            SecretStr(SIM_KEY),
        ) as client,
    ):
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(wait_for_final(client, rid, timeout_seconds=20, schedule=schedule) for rid in ids)
            ),
            timeout=30,
        )
    assert all(outcome.finished for outcome in outcomes)
    assert sim.count(status_code=429) == 0
    assert sim.max_calls_in_any_window(window) <= limit
    # they really did compete: more checks were made than one window allows
    assert sum(outcome.checks for outcome in outcomes) > limit
