"""Every failure reaches the model as is_error with our own, actionable words."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from mcp import Client
from pydantic import SecretStr

from mcp_server.server import build_server
from shared.lsq.client import CaptureStatusClient
from shared.settings import Settings
from shared.simulator import (
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Fault,
    FaultKind,
    Simulator,
    SimulatorConfig,
    create_app,
)
from tests.conftest import SIM_KEY, fast_options
from tests.mcp_server.conftest import ServerFactory, make_settings, service_of, text_of

CREATED = SAMPLES["created"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id
PREFIX = "Error executing tool get_capture_status: "
#: bodies the simulator sends: never shown to the model
UPSTREAM_BODIES = (
    "An unexpected error occurred",
    "Service Unavailable",
    "Request Rejected",
    "<html",
    "API calls exceeded",
    "Invalid API key",
    "No request found for RequestID",
)


def assert_our_words(text: str, *expected: str) -> None:
    assert text.startswith(PREFIX), text
    for part in expected:
        assert part in text, text
    assert "Next:" in text
    assert "Traceback" not in text
    for body in UPSTREAM_BODIES:
        assert body not in text


async def call_status(server_factory: ServerFactory, request_id: str, **kwargs: Any) -> str:
    async with Client(server_factory(**kwargs)) as client:
        result = await client.call_tool("get_capture_status", {"request_id": request_id})
    assert result.is_error
    assert result.structured_content is None
    return text_of(result)


async def test_text_without_an_id_says_what_an_id_looks_like(
    mcp_client: Client, sim: Simulator
) -> None:
    result = await mcp_client.call_tool("get_capture_status", {"request_id": "my capture"})
    assert result.is_error
    assert_our_words(text_of(result), "That is not a LeadSquared RequestId", "GUID")
    assert sim.calls == []


async def test_two_different_ids_in_one_argument_are_refused(mcp_client: Client) -> None:
    text = f"{CREATED} and {UNKNOWN_REQUEST_ID}"
    result = await mcp_client.call_tool("get_capture_status", {"request_id": text})
    assert result.is_error
    assert "contains 2 different RequestIds" in text_of(result)


async def test_an_unknown_id_gives_the_three_possible_causes(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("get_capture_status", {"request_id": UNKNOWN_REQUEST_ID})
    assert result.is_error
    assert_our_words(
        text_of(result), "No request with this id was found", "typo", "region", "expired"
    )


async def test_a_refused_api_key_tells_an_admin_what_to_check(make_server: ServerFactory) -> None:
    text = await call_status(make_server, CREATED, api_key="not-the-key")
    assert_our_words(text, "LeadSquared refused this tool's API key", "LSQ_API_KEY")
    assert "not-the-key" not in text


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            Fault(kind=FaultKind.RATE_LIMITED, retry_after=120),
            ("LeadSquared is throttling requests", "Try again in 2 min"),
        ),
        (
            Fault(kind=FaultKind.MX_THROTTLE),
            ("LeadSquared is throttling requests",),
        ),
        (
            Fault(kind=FaultKind.SERVER_ERROR, status_code=503),
            ("LeadSquared answered with a server error (HTTP 503)", "Try again"),
        ),
        (
            Fault(kind=FaultKind.CONNECTION_RESET),
            ("Could not reach LeadSquared", "network"),
        ),
        (
            Fault(kind=FaultKind.MALFORMED_JSON),
            ("LeadSquared's answer could not be read",),
        ),
        (
            Fault(kind=FaultKind.EMPTY_BODY),
            ("LeadSquared's answer could not be read",),
        ),
    ],
    ids=["throttled", "mx-throttle", "server-down", "connection-reset", "html", "empty"],
)
async def test_upstream_failures_are_explained_in_our_words(
    make_server: ServerFactory, sim: Simulator, fault: Fault, expected: tuple[str, ...]
) -> None:
    sim.set_fault(fault)
    # a cooldown longer than the lookup's deadline: the client gives up instead of waiting
    text = await call_status(make_server, CREATED, throttle_cooldown_seconds=60)
    assert_our_words(text, *expected)


async def test_a_lookup_that_runs_out_of_time_says_so(
    make_server: ServerFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.LATENCY, seconds=5))
    text = await call_status(make_server, CREATED, deadline_seconds=0.1)
    assert_our_words(text, "The lookup ran out of time", "Try again")


@pytest.mark.parametrize(
    "fault",
    [Fault(kind=FaultKind.RATE_LIMITED), Fault(kind=FaultKind.MX_THROTTLE)],
    ids=["429-without-retry-after", "mx-throttle"],
)
async def test_a_wait_under_a_throttle_answers_within_its_timeout_and_blames_the_throttle(
    make_server: ServerFactory, sim: Simulator, fault: Fault
) -> None:
    sim.set_fault(fault)
    timeout = 1.5
    # the client would wait out the 5 s cooldown (inside its 10 s deadline) and retry
    async with Client(make_server()) as client, asyncio.timeout(timeout + 1.0):
        result = await client.call_tool(
            "wait_for_capture", {"request_id": CREATED, "timeout_seconds": timeout}
        )
    assert result.is_error
    text = text_of(result)
    assert text.startswith("Error executing tool wait_for_capture: No answer from LeadSquared")
    assert "LeadSquared is throttling requests" in text
    assert "ran out of time" not in text


async def test_an_unfinished_wait_answers_within_its_timeout_even_when_the_metrics_are_throttled(
    make_server: ServerFactory, sim: Simulator
) -> None:
    metrics_path = fast_options().metrics_path
    sim.set_fault(Fault(kind=FaultKind.RATE_LIMITED, paths=(metrics_path,)))
    timeout = 1.5
    async with Client(make_server()) as client, asyncio.timeout(timeout + 1.0):
        result = await client.call_tool(
            "wait_for_capture", {"request_id": IN_QUEUE, "timeout_seconds": timeout}
        )
    assert not result.is_error
    structured = result.structured_content
    assert structured is not None
    assert structured["timed_out"] is True
    assert structured["capture"]["status"] == "In-Queue"
    assert structured["waited_seconds"] <= timeout


async def test_a_wrong_status_path_tells_an_admin_which_settings_to_check(
    make_server: ServerFactory,
) -> None:
    gateway_only = create_app(SimulatorConfig(api_key=SIM_KEY, status_paths=("/elsewhere",)))
    text = await call_status(make_server, CREATED, app=gateway_only)
    assert text.startswith(PREFIX)
    assert "The status endpoint was not found" in text
    assert "LSQ_STATUS_PATH" in text


class ExplodingTransport(httpx.AsyncBaseTransport):
    """A transport that fails in a way the core does not anticipate."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("internal detail: /etc/secret-path and a stack")


async def test_an_unexpected_crash_shows_only_a_generic_message() -> None:
    def open_exploding_client(_: Settings) -> CaptureStatusClient:
        return CaptureStatusClient(
            fast_options(), SecretStr(SIM_KEY), transport=ExplodingTransport()
        )

    server = build_server(make_settings(), service_opener=service_of(open_exploding_client))
    async with Client(server) as client:
        result = await client.call_tool("get_capture_status", {"request_id": CREATED})
    assert result.is_error
    assert text_of(result) == "Error executing tool get_capture_status"


async def test_wait_for_an_unknown_id_fails_at_once_with_the_not_found_explanation(
    mcp_client: Client, sim: Simulator
) -> None:
    args = {"request_id": UNKNOWN_REQUEST_ID, "timeout_seconds": 60}
    result = await mcp_client.call_tool("wait_for_capture", args)
    assert result.is_error
    text = text_of(result)
    assert text.startswith("Error executing tool wait_for_capture: ")
    assert "No request with this id was found" in text
    assert len(sim.calls) == 1


async def test_wait_with_an_invalid_id_spends_no_quota(mcp_client: Client, sim: Simulator) -> None:
    result = await mcp_client.call_tool("wait_for_capture", {"request_id": "soon"})
    assert result.is_error
    assert "That is not a LeadSquared RequestId" in text_of(result)
    assert sim.calls == []


async def test_a_wait_that_never_got_an_answer_says_how_long_it_tried_and_why(
    make_server: ServerFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=502))
    server = make_server(settings=make_settings(mcp_wait_max_seconds=0.3))
    async with Client(server) as client:
        args = {"request_id": CREATED, "timeout_seconds": 30}
        result = await client.call_tool("wait_for_capture", args)
    assert result.is_error
    text = text_of(result)
    assert text.startswith("Error executing tool wait_for_capture: No answer from LeadSquared")
    assert "checks" in text
    # the last check saw the 502 itself, or the circuit breaker it tripped
    assert (
        "LeadSquared answered with a server error (HTTP 502)" in text
        or "LeadSquared keeps failing" in text
    )


async def test_a_negative_timeout_is_refused_by_the_schema(mcp_client: Client) -> None:
    args = {"request_id": CREATED, "timeout_seconds": -5}
    result = await mcp_client.call_tool("wait_for_capture", args)
    assert result.is_error
    assert "timeout_seconds" in text_of(result)


async def test_queue_metrics_failures_are_explained(
    make_server: ServerFactory, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=500))
    async with Client(make_server()) as client:
        result = await client.call_tool("get_capture_queue_metrics", {})
    assert result.is_error
    text = text_of(result)
    assert text.startswith("Error executing tool get_capture_queue_metrics: ")
    assert "LeadSquared answered with a server error (HTTP 500)" in text
    assert "An unexpected error occurred" not in text
