"""CaptureStatusClient against the simulator: lookups, typed errors, retries, cache, flights."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from shared.errors import (
    AuthenticationError,
    BadRequestError,
    CaptureStatusError,
    DeadlineExceededError,
    EndpointNotFoundError,
    InvalidRequestIdError,
    MalformedResponseError,
    RateLimitedError,
    RequestNotFoundError,
    ServerError,
    TooManyRequestIdsError,
    UpstreamConnectionError,
)
from shared.guard.cache import CacheTtls
from shared.lsq.client import CaptureStatusClient
from shared.lsq.models import StatusKind
from shared.lsq.upstream import UpstreamHttp, in_process_transport
from shared.simulator import (
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Fault,
    FaultKind,
    Simulator,
    SimulatorConfig,
    create_app,
)
from tests.conftest import SIM_KEY, ClientFactory, FakeClock, fast_options

CREATED = SAMPLES["created"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id


async def test_a_seeded_success_is_decoded_from_the_simulator(make_client: ClientFactory) -> None:
    client = make_client()
    status = await client.get_status(CREATED)
    assert status.status is StatusKind.SUCCESS
    assert status.outcome is not None
    assert status.outcome.kind == "created"
    assert status.request_id == CREATED


async def test_an_id_pasted_inside_a_url_is_looked_up(make_client: ClientFactory) -> None:
    client = make_client()
    url = f"https://asyncapi.leadsquared.com/opportunity/status?RequestID={CREATED.upper()}"
    status = await client.get_status(url)
    assert status.request_id == CREATED


@pytest.mark.parametrize("text", ["", "hello", "1234", "c1d867a7-a325-4b68-954f", "DROP TABLE"])
async def test_text_without_an_id_is_refused_before_any_upstream_call(
    make_client: ClientFactory, sim: Simulator, text: str
) -> None:
    client = make_client()
    with pytest.raises(InvalidRequestIdError, match="GUID"):
        await client.get_status(text)
    assert sim.calls == []


async def test_an_unknown_id_is_not_found_after_one_call(
    make_client: ClientFactory, sim: Simulator
) -> None:
    client = make_client()
    with pytest.raises(RequestNotFoundError) as caught:
        await client.get_status(UNKNOWN_REQUEST_ID)
    assert caught.value.http_status == 404
    assert caught.value.request_id == UNKNOWN_REQUEST_ID
    assert len(sim.calls) == 1


async def test_a_wrong_api_key_is_an_authentication_error_and_not_retried(
    make_client: ClientFactory, sim: Simulator
) -> None:
    client = make_client(api_key="not-the-key")
    with pytest.raises(AuthenticationError, match="LSQ_API_KEY"):
        await client.get_status(CREATED)
    assert sim.count(status_code=401) == 1


async def test_a_request_the_host_finds_not_per_spec_is_a_bad_request(sim_app: Starlette) -> None:
    http = UpstreamHttp(
        "http://sim",
        SecretStr(SIM_KEY),
        transport=in_process_transport(sim_app),
    )
    try:
        with pytest.raises(BadRequestError) as caught:
            await http.get_json("/opportunity/status", {})
    finally:
        await http.aclose()
    assert caught.value.http_status == 400
    assert not caught.value.retryable


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_server_errors_are_retried_up_to_the_attempt_limit(
    make_client: ClientFactory, sim: Simulator, code: int
) -> None:
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=code))
    client = make_client(retry_attempts=3)
    with pytest.raises(ServerError) as caught:
        await client.get_status(CREATED)
    assert caught.value.http_status == code
    assert sim.count(status_code=code) == 3
    assert client.stats.retries == 2


async def test_a_transient_server_error_recovers_on_retry(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=2))
    client = make_client(retry_attempts=3)
    status = await client.get_status(CREATED)
    assert status.status is StatusKind.SUCCESS
    assert len(sim.calls) == 3


@pytest.mark.parametrize(
    "kind", [FaultKind.MALFORMED_JSON, FaultKind.TRUNCATED_JSON, FaultKind.EMPTY_BODY]
)
async def test_unreadable_bodies_are_malformed_responses_retried_a_bounded_number_of_times(
    make_client: ClientFactory, sim: Simulator, kind: FaultKind
) -> None:
    sim.set_fault(Fault(kind=kind))
    client = make_client(retry_attempts=2)
    with pytest.raises(MalformedResponseError, match="Try again") as caught:
        await client.get_status(CREATED)
    assert caught.value.retryable
    assert len(sim.calls) == 2


async def test_a_body_garbled_once_is_read_on_the_next_attempt(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.TRUNCATED_JSON, remaining=1))
    status = await make_client(retry_attempts=2).get_status(CREATED)
    assert status.status is StatusKind.SUCCESS


async def test_an_mx_throttle_inside_a_200_is_a_throttle_that_is_retried(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.MX_THROTTLE, remaining=1))
    client = make_client(throttle_cooldown_seconds=0.05)
    status = await client.get_status(CREATED)
    assert status.status is StatusKind.SUCCESS
    assert client.stats.throttles == 1
    assert len(sim.calls) == 2


async def test_a_429_that_outlasts_the_deadline_is_reported_with_when_to_retry(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.RATE_LIMITED, retry_after=30))
    client = make_client(deadline_seconds=2.0)
    with pytest.raises(RateLimitedError) as caught:
        await client.get_status(CREATED)
    assert caught.value.retry_after == pytest.approx(30, abs=1)
    assert "30 s" in caught.value.message
    assert sim.count(status_code=429) == 1


async def test_a_throttle_makes_every_later_lookup_wait_out_the_cooldown(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.RATE_LIMITED, retry_after=30, remaining=1))
    client = make_client(deadline_seconds=2.0)
    with pytest.raises(RateLimitedError):
        await client.get_status(CREATED)
    with pytest.raises(RateLimitedError, match="standing back"):
        await client.get_status(IN_QUEUE)
    assert len(sim.calls) == 1


async def test_retry_after_is_honoured_before_trying_again(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.RATE_LIMITED, retry_after=0.3, remaining=1))
    client = make_client()
    status = await client.get_status(CREATED)
    assert status.status is StatusKind.SUCCESS
    first, second = sim.calls[0], sim.calls[1]
    assert first.status_code == 429
    assert second.at - first.at >= 0.3


async def test_the_whole_lookup_never_outlives_its_deadline(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.LATENCY, seconds=5.0))
    client = make_client(deadline_seconds=0.3, retry_attempts=5)
    async with asyncio.timeout(3):
        with pytest.raises(DeadlineExceededError, match=r"0\.3 s"):
            await client.get_status(CREATED)


async def test_a_connection_reset_is_a_connection_error(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.CONNECTION_RESET))
    client = make_client(retry_attempts=2)
    with pytest.raises(UpstreamConnectionError, match="try again"):
        await client.get_status(CREATED)
    assert len(sim.calls) == 2


async def test_an_unknown_status_is_kept_with_its_raw_text(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.UNKNOWN_STATUS, status_text="Paused"))
    status = await make_client().get_status(CREATED)
    assert status.status is StatusKind.UNKNOWN
    assert status.task.status_raw == "Paused"


async def test_the_fallback_status_path_is_found_once_and_remembered(
    make_client: ClientFactory,
) -> None:
    app = create_app(
        SimulatorConfig(api_key=SIM_KEY, status_paths=("/opportunity/capture/status",))
    )
    sim: Simulator = app.state.simulator
    client = make_client(app=app)
    assert (await client.get_status(CREATED)).status is StatusKind.SUCCESS
    assert (await client.get_status(IN_QUEUE)).status is StatusKind.IN_QUEUE
    assert [c.path for c in sim.calls] == [
        "/opportunity/status",
        "/opportunity/capture/status",
        "/opportunity/capture/status",
    ]
    assert client.status_path == "/opportunity/capture/status"


async def test_no_status_path_on_the_host_is_an_endpoint_error_naming_both(
    make_client: ClientFactory,
) -> None:
    app = create_app(SimulatorConfig(api_key=SIM_KEY, status_paths=("/elsewhere/status",)))
    client = make_client(app=app)
    with pytest.raises(EndpointNotFoundError, match="LSQ_STATUS_PATH") as caught:
        await client.get_status(CREATED)
    assert "/opportunity/capture/status" in caught.value.message


async def test_a_hundred_concurrent_lookups_of_one_id_make_one_upstream_call(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.LATENCY, seconds=0.2, remaining=1))
    client = make_client()
    results = await asyncio.gather(*(client.get_status(CREATED) for _ in range(100)))
    assert {r.request_id for r in results} == {CREATED}
    assert len(sim.calls) == 1
    again = await client.get_status(CREATED)
    assert again == results[0]
    assert len(sim.calls) == 1
    assert client.cache.hits >= 1


async def test_a_final_status_is_served_from_the_cache_until_its_ttl_passes(
    sim_app: Starlette, sim: Simulator
) -> None:
    clock = FakeClock()

    client = CaptureStatusClient(
        fast_options(cache_ttls=CacheTtls(final=100, error_status=10, pending=5)),
        SecretStr(SIM_KEY),
        transport=in_process_transport(sim_app),
        clock=clock,
    )
    async with client:
        await client.get_status(CREATED)
        await client.get_status(IN_QUEUE)
        clock.advance(6)
        await client.get_status(CREATED)
        await client.get_status(IN_QUEUE)
        assert [c.request_id for c in sim.calls] == [CREATED, IN_QUEUE, IN_QUEUE]
        clock.advance(100)
        await client.get_status(CREATED)
        assert len(sim.calls) == 4


async def test_a_refresh_bypasses_the_cache(make_client: ClientFactory, sim: Simulator) -> None:
    client = make_client(refresh_floor_seconds=0.0)
    await client.get_status(CREATED)
    await client.get_status(CREATED, use_cache=False)
    assert len(sim.calls) == 2


async def test_refreshes_repeated_within_seconds_are_answered_from_the_cache(
    sim_app: Starlette, sim: Simulator
) -> None:
    clock = FakeClock()
    async with CaptureStatusClient(
        fast_options(), SecretStr(SIM_KEY), transport=in_process_transport(sim_app), clock=clock
    ) as client:
        await client.get_status(CREATED)
        for _ in range(10):  # someone pressing Refresh again and again
            await client.get_status(CREATED, use_cache=False)
        assert len(sim.calls) == 1
        assert client.stats.refreshes_from_cache == 10
        clock.advance(client.options.refresh_floor_seconds)
        await client.get_status(CREATED, use_cache=False)
        assert len(sim.calls) == 2  # once the floor has passed, a refresh asks LeadSquared


async def test_errors_are_not_cached(make_client: ClientFactory, sim: Simulator) -> None:
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, remaining=1))
    client = make_client(retry_attempts=1)
    with pytest.raises(ServerError):
        await client.get_status(CREATED)
    assert (await client.get_status(CREATED)).status is StatusKind.SUCCESS


async def test_many_ids_answer_one_result_each_in_order_without_failing_together(
    make_client: ClientFactory,
) -> None:
    client = make_client()
    queries = [CREATED, "not an id", UNKNOWN_REQUEST_ID, IN_QUEUE, CREATED]
    results = await client.get_statuses(queries)
    assert [r.query for r in results] == queries
    assert [r.ok for r in results] == [True, False, False, True, True]
    assert isinstance(results[1].error, InvalidRequestIdError)
    assert isinstance(results[2].error, RequestNotFoundError)
    assert results[2].request_id == UNKNOWN_REQUEST_ID


async def test_too_many_ids_at_once_are_refused(make_client: ClientFactory) -> None:
    client = make_client(max_ids_per_call=3)
    with pytest.raises(TooManyRequestIdsError, match="at most 3"):
        await client.get_statuses([CREATED] * 4)


async def test_queue_metrics_are_read_and_briefly_cached(
    make_client: ClientFactory, sim: Simulator
) -> None:
    client = make_client()
    metrics = await client.get_metrics()
    again = await client.get_metrics()
    assert metrics == again
    assert metrics.pending_messages is not None
    assert metrics.processing_rate_per_minute is not None
    assert sim.count(path="/opportunity/capture/metrics") == 1


@pytest.mark.parametrize(
    "exc",
    [
        cls("boom")
        for cls in (
            httpx.ConnectTimeout,
            httpx.ReadTimeout,
            httpx.WriteTimeout,
            httpx.PoolTimeout,
            httpx.ConnectError,
            httpx.ReadError,
            httpx.WriteError,
            httpx.CloseError,
            httpx.RemoteProtocolError,
            httpx.LocalProtocolError,
            httpx.ProxyError,
            httpx.UnsupportedProtocol,
            httpx.DecodingError,
            httpx.TooManyRedirects,
        )
    ],
    ids=lambda e: type(e).__name__,
)
async def test_no_httpx_exception_escapes_the_client(exc: httpx.HTTPError) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client = CaptureStatusClient(
        fast_options(retry_attempts=1), SecretStr(SIM_KEY), transport=httpx.MockTransport(handler)
    )
    async with client:
        with pytest.raises(CaptureStatusError) as caught:
            await client.get_status(CREATED)
    assert not isinstance(caught.value, httpx.HTTPError)
    assert caught.value.request_id == CREATED


def test_every_httpx_exception_class_is_covered_by_the_escape_test() -> None:
    public = {
        obj
        for name in dir(httpx)
        if isinstance(obj := getattr(httpx, name), type) and issubclass(obj, httpx.HTTPError)
    }
    leaves = {cls for cls in public if not any(o is not cls and issubclass(o, cls) for o in public)}
    covered = {
        httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout,
        httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.CloseError,
        httpx.RemoteProtocolError, httpx.LocalProtocolError, httpx.ProxyError,
        httpx.UnsupportedProtocol, httpx.DecodingError, httpx.TooManyRedirects,
    }  # fmt: skip
    assert leaves - {httpx.HTTPStatusError} <= covered


async def test_a_throttle_message_quotes_the_configured_limit(
    make_client: ClientFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.RATE_LIMITED, remaining=10))
    client = make_client(limit_calls=40, budget_seconds=10, retry_attempts=1)
    with pytest.raises(RateLimitedError, match=r"its 40 calls per 10 s are shared"):
        await client.get_status(SAMPLES["created"].request_id)
