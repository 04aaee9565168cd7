"""The tools through the SDK's in-memory Client, in both protocol eras."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from mcp_server.results import (
    DEMO_NOTICE,
    CaptureStatusesResult,
    CaptureStatusResult,
    QueueMetricsResult,
    WaitResult,
)
from mcp_server.server import build_server
from mcp_server.state import ServerState
from shared.errors import ConfigurationError
from shared.lsq.client import CaptureStatusClient
from shared.lsq.ids import REQUEST_ID_EXAMPLE
from shared.service.capture_service import CaptureService
from shared.settings import Settings
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Simulator
from tests.conftest import FakeClock
from tests.mcp_server.conftest import (
    FAST_SCHEDULE,
    PROCESSING_SECONDS,
    ClientOpenings,
    Opener,
    ServerFactory,
    capture_body,
    make_settings,
    service_of,
    simulator_opener,
    structured,
    text_of,
)

CREATED = SAMPLES["created"].request_id
DUPLICATE = SAMPLES["duplicate"].request_id
FAILED = SAMPLES["failure_invalid_input"].request_id
ERROR_STATUS = SAMPLES["error"].request_id
IN_QUEUE_FOREVER = SAMPLES["in_queue"].request_id
NOT_JSON_BODY = SAMPLES["request_body_not_json"].request_id
TOOL_NAMES = [
    "get_capture_status",
    "get_capture_statuses",
    "wait_for_capture",
    "get_capture_queue_metrics",
    "list_capture_accounts",
    "triage_capture_requests",
]


async def test_six_read_only_tools_are_listed_with_every_annotation_hint_explicit(
    mcp_client: Client,
) -> None:
    tools = (await mcp_client.list_tools()).tools
    assert [tool.name for tool in tools] == TOOL_NAMES
    for tool in tools:
        assert tool.annotations is not None
        hints = tool.annotations.model_dump(exclude_none=True)
        assert hints == {
            "read_only_hint": True,
            "destructive_hint": False,
            "idempotent_hint": True,
            "open_world_hint": True,
        }
        assert tool.title
        assert tool.output_schema is not None
        assert tool.output_schema["type"] == "object"
        assert tool.description
        assert "Read-only." in tool.description


async def test_descriptions_tell_the_model_the_id_format_the_statuses_and_the_caps(
    make_server: ServerFactory,
) -> None:
    server = make_server(settings=make_settings(mcp_max_ids=7, mcp_wait_max_seconds=90))
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    status = tools["get_capture_status"].description or ""
    assert REQUEST_ID_EXAMPLE in status
    for word in ("In-Queue", "Success", "FAILURE", "ERROR", "duplicate", "created"):
        assert word in status
    assert "at most 7 ids" in (tools["get_capture_statuses"].description or "")
    assert "at most 90 s" in (tools["wait_for_capture"].description or "")
    assert "{" not in "".join(tool.description or "" for tool in tools.values())


async def test_a_created_opportunity_is_returned_as_structured_content_and_json_text(
    mcp_client: Client, openings: ClientOpenings
) -> None:
    result = await mcp_client.call_tool("get_capture_status", {"request_id": CREATED})
    content = structured(result)
    status = CaptureStatusResult.model_validate(content)
    assert status.request_id == CREATED
    assert status.status == "Success"
    assert status.is_final
    assert status.outcome is not None
    assert status.outcome.kind == "created"
    assert status.outcome.created_opportunity_id
    assert status.explanation.headline.startswith("Opportunity created")
    assert status.explanation.next_steps
    assert status.notice is None
    assert openings.opened == 1


@pytest.mark.parametrize(
    ("sample", "status", "final", "outcome"),
    [
        ("duplicate", "Success", True, "duplicate"),
        ("failure_invalid_input", "FAILURE", True, "failed"),
        ("error", "ERROR", False, None),
        ("in_queue", "In-Queue", False, None),
        ("unknown_status", "unknown", False, None),
    ],
)
async def test_every_kind_of_status_is_decoded_and_explained(
    mcp_client: Client, sample: str, status: str, final: bool, outcome: str | None
) -> None:
    rid = SAMPLES[sample].request_id
    content = structured(await mcp_client.call_tool("get_capture_status", {"request_id": rid}))
    result = CaptureStatusResult.model_validate(content)
    assert result.status == status
    assert result.is_final is final
    assert (result.outcome.kind if result.outcome else None) == outcome
    assert result.explanation.headline
    assert result.explanation.why


async def test_a_failure_names_its_mx_exception_as_data(mcp_client: Client) -> None:
    content = structured(await mcp_client.call_tool("get_capture_status", {"request_id": FAILED}))
    result = CaptureStatusResult.model_validate(content)
    assert result.outcome is not None
    assert result.outcome.exception_type == "MXInvalidInputException"
    assert "MXInvalidInputException" in result.explanation.headline


async def test_an_in_queue_request_is_explained_with_the_queue_metrics(mcp_client: Client) -> None:
    args = {"request_id": IN_QUEUE_FOREVER}
    content = structured(await mcp_client.call_tool("get_capture_status", args))
    explanation = CaptureStatusResult.model_validate(content).explanation
    assert explanation.headline.startswith("Waiting in the queue")
    assert "Queue now:" in explanation.why


async def test_an_id_pasted_inside_a_url_is_found(mcp_client: Client) -> None:
    url = f"https://asyncapi.leadsquared.com/opportunity/status?RequestID={CREATED.upper()}"
    content = structured(await mcp_client.call_tool("get_capture_status", {"request_id": url}))
    assert content["request_id"] == CREATED


async def test_personal_data_is_masked_by_default(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("get_capture_status", {"request_id": NOT_JSON_BODY})
    text = text_of(result)
    assert "ravi.kumar@example.in" not in text
    assert "9812345678" not in text
    summary = structured(result)["request_summary"]
    assert summary["readable"] is False
    assert summary["raw_excerpt"] is None  # text that is not JSON cannot be masked reliably
    assert summary["unreadable_reason"].startswith("not valid JSON")
    assert summary["size"] > 0


async def test_a_trusted_deployment_may_turn_masking_off(make_server: ServerFactory) -> None:
    server = make_server(settings=make_settings(lsq_mask_pii=False))
    async with Client(server) as client:
        result = await client.call_tool("get_capture_status", {"request_id": NOT_JSON_BODY})
    assert "ravi.kumar@example.in" in text_of(result)


async def test_answers_from_the_simulator_say_they_are_a_demo(make_server: ServerFactory) -> None:
    server = make_server(settings=make_settings(lsq_demo=True))
    async with Client(server) as client:
        content = structured(await client.call_tool("get_capture_status", {"request_id": CREATED}))
    assert content["notice"] == DEMO_NOTICE


async def test_several_ids_get_one_entry_each_in_order_and_one_bad_id_fails_nothing_else(
    mcp_client: Client,
) -> None:
    ids = [CREATED, UNKNOWN_REQUEST_ID, "not an id", FAILED, CREATED]
    result = await mcp_client.call_tool("get_capture_statuses", {"request_ids": ids})
    batch = CaptureStatusesResult.model_validate(structured(result))
    assert [entry.result for entry in batch.results] == [
        "found",
        "not_found",
        "error",
        "found",
        "found",
    ]
    assert [entry.status for entry in batch.results] == [
        "Success",
        None,
        None,
        "FAILURE",
        "Success",
    ]
    assert (batch.found, batch.not_found, batch.errors) == (3, 1, 1)
    assert batch.summary.startswith("5 ids: 3 found")
    invalid = batch.results[2]
    assert invalid.error is not None
    assert invalid.error.code == "invalid_request_id"
    assert not invalid.error.retryable
    assert "RequestId" in invalid.error.message
    not_found = batch.results[1].error
    assert not_found is not None
    assert not_found.code == "not_found"


async def test_more_ids_than_the_cap_are_refused_with_our_own_words(
    make_server: ServerFactory, sim: Simulator
) -> None:
    server = make_server(settings=make_settings(mcp_max_ids=3))
    async with Client(server) as client:
        result = await client.call_tool("get_capture_statuses", {"request_ids": [CREATED] * 4})
    assert result.is_error
    assert "at most 3 are looked up at a time" in text_of(result)
    assert "batches of 3 or fewer" in text_of(result)
    assert sim.calls == []


async def test_an_empty_list_of_ids_is_refused(mcp_client: Client) -> None:
    result = await mcp_client.call_tool("get_capture_statuses", {"request_ids": []})
    assert result.is_error
    assert "No RequestIds were given" in text_of(result)


async def test_queue_metrics_come_with_a_one_line_reading(
    mcp_client: Client, sim: Simulator
) -> None:
    for n in range(3):
        sim.submit(capture_body(n))
    content = structured(await mcp_client.call_tool("get_capture_queue_metrics", {}))
    metrics = QueueMetricsResult.model_validate(content)
    assert metrics.pending_requests is not None
    assert metrics.pending_requests >= 3
    assert metrics.max_delay_seconds == PROCESSING_SECONDS
    assert f"{metrics.pending_requests} requests ahead" in metrics.reading


async def test_waiting_sends_progress_and_returns_as_soon_as_the_request_is_final(
    mcp_client: Client, sim: Simulator, sim_clock: FakeClock
) -> None:
    rid = sim.submit(capture_body())
    notes: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append((progress, total, message))
        if len(notes) == 1:
            # the capture leaves the queue while the tool waits
            sim_clock.advance(PROCESSING_SECONDS)

    result = await mcp_client.call_tool(
        "wait_for_capture",
        {"request_id": rid, "timeout_seconds": 120},
        progress_callback=on_progress,
    )
    waited = WaitResult.model_validate(structured(result))
    assert waited.finished
    assert not waited.timed_out
    assert waited.capture.status == "Success"
    assert waited.checks == 2
    assert waited.waited_seconds < 5
    assert waited.summary.startswith("Finished after")
    assert len(notes) == 2
    first, last = notes
    assert first[2] is not None
    assert first[2].startswith("Check 1: In-Queue (not final); next check in")
    assert last[2] == "Check 2: Success (final); done waiting"
    assert last[0] > first[0]
    assert all(total == 120 for _, total, _ in notes)


async def test_a_wait_that_runs_out_of_time_returns_the_last_status_without_an_error(
    mcp_client: Client,
) -> None:
    args = {"request_id": IN_QUEUE_FOREVER, "timeout_seconds": 0.3}
    waited = WaitResult.model_validate(
        structured(await mcp_client.call_tool("wait_for_capture", args))
    )
    assert not waited.finished
    assert waited.timed_out
    assert waited.capture.status == "In-Queue"
    assert waited.checks >= 2
    assert "Call wait_for_capture again" in waited.summary
    assert waited.capture.explanation.headline.startswith("Waiting in the queue")


async def test_the_wait_is_capped_at_the_servers_maximum(make_server: ServerFactory) -> None:
    server = make_server(settings=make_settings(mcp_wait_max_seconds=0.2))
    async with Client(server) as client:
        args = {"request_id": IN_QUEUE_FOREVER, "timeout_seconds": 3600}
        result = await asyncio.wait_for(client.call_tool("wait_for_capture", args), timeout=10)
    waited = WaitResult.model_validate(structured(result))
    assert waited.timeout_seconds == 0.2
    assert waited.timed_out


async def test_a_final_request_is_returned_at_once_by_wait(mcp_client: Client) -> None:
    args = {"request_id": DUPLICATE, "timeout_seconds": 60}
    waited = WaitResult.model_validate(
        structured(await mcp_client.call_tool("wait_for_capture", args))
    )
    assert waited.finished
    assert waited.checks == 1
    assert waited.capture.outcome is not None
    assert waited.capture.outcome.kind == "duplicate"


async def test_several_waits_at_once_are_served_by_the_one_client(
    mcp_client: Client, sim: Simulator, sim_clock: FakeClock, openings: ClientOpenings
) -> None:
    ids = [sim.submit(capture_body(n)) for n in range(5)]
    sim_clock.advance(PROCESSING_SECONDS)
    results = await asyncio.gather(
        *(mcp_client.call_tool("wait_for_capture", {"request_id": rid}) for rid in ids)
    )
    assert all(WaitResult.model_validate(structured(r)).finished for r in results)
    assert openings.opened == 1


async def test_the_lifespan_opens_one_client_and_closes_it_when_the_server_stops(
    server: MCPServer[ServerState], openings: ClientOpenings
) -> None:
    async with Client(server) as client:
        await client.call_tool("get_capture_status", {"request_id": CREATED})
        await client.call_tool("get_capture_queue_metrics", {})
        assert (openings.opened, openings.closed) == (1, 0)
    assert (openings.opened, openings.closed) == (1, 1)


async def test_the_api_key_never_appears_in_any_answer(
    make_server: ServerFactory,
) -> None:
    server = make_server(api_key="wrong-key-never-shown")
    async with Client(server) as client:
        result = await client.call_tool("get_capture_status", {"request_id": CREATED})
    assert result.is_error
    assert "wrong-key-never-shown" not in json.dumps(result.model_dump(mode="json"))


class GatedOpener:
    """Opens the client only when the test lets it (a slow start-up, made visible)."""

    def __init__(self, opener: Opener) -> None:
        self._opener = opener
        self.release = asyncio.Event()
        self.asked = asyncio.Event()

    @asynccontextmanager
    async def __call__(self, settings: Settings) -> AsyncGenerator[CaptureService]:
        self.asked.set()
        await self.release.wait()
        async with self._opener(settings) as client:
            yield client


async def test_tools_are_listed_before_the_core_is_open_and_calls_wait_for_it(
    sim_app: Starlette, openings: ClientOpenings
) -> None:
    gate = GatedOpener(simulator_opener(sim_app, openings))
    server = build_server(make_settings(), service_opener=gate, poll_schedule=FAST_SCHEDULE)
    async with Client(server) as client:
        async with asyncio.timeout(10):
            await gate.asked.wait()
        tools = (await client.list_tools()).tools
        assert len(tools) == len(TOOL_NAMES)
        assert openings.opened == 0
        call = asyncio.create_task(client.call_tool("get_capture_status", {"request_id": CREATED}))
        await asyncio.sleep(0)
        assert not call.done()
        gate.release.set()
        async with asyncio.timeout(10):
            result = await call
    assert structured(result)["status"] == "Success"
    assert (openings.opened, openings.closed) == (1, 1)


async def test_a_core_that_cannot_open_makes_every_call_fail_with_the_reason() -> None:
    def refuse(_: Settings) -> AbstractAsyncContextManager[CaptureStatusClient]:
        raise ConfigurationError("LSQ_API_KEY: the key was revoked; set a new one.")

    async with Client(build_server(make_settings(), service_opener=service_of(refuse))) as client:
        result = await client.call_tool("get_capture_status", {"request_id": CREATED})
        metrics = await client.call_tool("get_capture_queue_metrics", {})
    assert result.is_error
    assert text_of(result) == (
        "Error executing tool get_capture_status: capture-status could not start. "
        "LSQ_API_KEY: the key was revoked; set a new one."
    )
    assert metrics.is_error


async def test_an_unexpected_failure_to_open_hides_the_details() -> None:
    def explode(_: Settings) -> AbstractAsyncContextManager[CaptureStatusClient]:
        raise RuntimeError("internal: /srv/secret/path")

    async with Client(build_server(make_settings(), service_opener=service_of(explode))) as client:
        result = await client.call_tool("get_capture_status", {"request_id": CREATED})
    assert result.is_error
    text = text_of(result)
    assert "could not open its connection to LeadSquared" in text
    assert "secret" not in text


async def test_stopping_while_the_core_is_still_opening_stops_promptly_and_leaks_nothing(
    sim_app: Starlette, openings: ClientOpenings
) -> None:
    gate = GatedOpener(simulator_opener(sim_app, openings))
    server = build_server(make_settings(), service_opener=gate)
    async with asyncio.timeout(10):
        async with Client(server) as client:
            await gate.asked.wait()
            await client.list_tools()
    assert (openings.opened, openings.closed) == (0, 0)
