"""triage_capture_requests through the SDK's in-memory Client, in both protocol eras.

The simulator runs on a real clock here. Most tests give it (and the client's budget) room
for hundreds of calls a second, so that a triage of every sample takes a moment; the
cancellation test keeps LeadSquared's real limit, so that a triage of a hundred ids takes
long enough to be stopped halfway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from starlette.applications import Starlette

from mcp_server.results import TRIAGE_MAX_IDS, TriageRowResult, TriageSummaryResult
from mcp_server.state import ServerState
from shared import TRIAGE_COLUMNS, TriageSummary
from shared.simulator import SAMPLES, Simulator, SimulatorConfig, create_app
from tests.conftest import SIM_KEY
from tests.hostile import assert_inert, serve_hostile_answers
from tests.mcp_server.conftest import Progress, ServerFactory, held_in_a_task, text_of

SAMPLE_IDS = [sample.request_id for sample in SAMPLES.values()]
#: what the simulator's samples come to, by outcome
SAMPLE_OUTCOMES = {
    "created": 3,
    "duplicate": 1,
    "failed": 9,
    "in_queue": 2,
    "error": 1,
    "unknown": 1,
    "not_found": 0,
    "lookup_failed": 0,
}
#: a budget (and a simulator) roomy enough for a triage of every sample in a moment
ROOMY = {"budget_calls": 400, "budget_seconds": 1.0}


def new_ids(count: int) -> list[str]:
    """``count`` RequestIds nobody ever submitted."""
    return [str(uuid.uuid4()) for _ in range(count)]


@pytest.fixture
def sim_app() -> Starlette:
    """The simulator on a real clock, allowing 1,000 calls per window."""
    return create_app(SimulatorConfig(api_key=SIM_KEY, rate_limit_calls=1_000))


@pytest.fixture
def sim(sim_app: Starlette) -> Simulator:
    simulator: Simulator = sim_app.state.simulator
    return simulator


@pytest.fixture
def server(make_server: ServerFactory) -> MCPServer[ServerState]:
    return make_server(**ROOMY)


@pytest.fixture
async def mcp_client(server: MCPServer[ServerState], era: str) -> AsyncIterator[Client]:
    async with held_in_a_task(Client(server, mode=era)) as client:
        yield client


def triaged(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful triage."""
    assert not result.is_error, text_of(result)
    content = result.structured_content
    assert content is not None
    return content


def refusal(result: CallToolResult) -> str:
    assert result.is_error
    return text_of(result)


# --- what comes back --------------------------------------------------------------------


async def test_a_triage_of_every_sample_counts_each_row_once_in_its_summary(
    mcp_client: Client,
) -> None:
    asked = [*SAMPLE_IDS, *new_ids(2)]
    content = triaged(await mcp_client.call_tool("triage_capture_requests", {"request_ids": asked}))
    rows = [TriageRowResult.model_validate(row) for row in content["rows"]]
    summary = TriageSummaryResult.model_validate(content["summary"])
    assert [row.request_id for row in rows] == asked  # input order, every id once
    assert summary.total == len(rows) == len(asked)
    assert summary.by_outcome == dict(Counter(row.outcome for row in rows)) | {
        outcome: 0 for outcome, n in summary.by_outcome.items() if n == 0
    }
    assert summary.by_outcome == SAMPLE_OUTCOMES | {"not_found": 2}
    assert sum(summary.by_status.values()) == len(rows)
    assert content["accounts"] == ["default"]
    assert {row.account for row in rows} == {"default"}


async def test_failures_are_grouped_by_exception_and_reason_and_the_failed_ones_are_to_resubmit(
    mcp_client: Client,
) -> None:
    content = triaged(
        await mcp_client.call_tool("triage_capture_requests", {"request_ids": SAMPLE_IDS})
    )
    rows = [TriageRowResult.model_validate(row) for row in content["rows"]]
    summary = TriageSummaryResult.model_validate(content["summary"])
    failing = [row for row in rows if row.outcome in {"failed", "error", "unknown"}]
    assert sum(group.count for group in summary.failures) == len(failing)
    for group in summary.failures:
        members = [
            row.request_id
            for row in failing
            if (row.outcome, row.exception_type, row.reason)
            == (group.outcome, group.exception_type, group.reason)
        ]
        assert group.count == len(members)
        assert set(group.example_ids) <= set(members)
    assert [group.count for group in summary.failures] == sorted(
        (group.count for group in summary.failures), reverse=True
    )
    assert summary.resubmit == [row.request_id for row in rows if row.outcome == "failed"]
    assert SAMPLES["failure_invalid_input"].request_id in summary.resubmit
    unsettled = {"in_queue", "error"}  # LeadSquared retries ERROR itself
    assert set(summary.look_again) == {row.request_id for row in rows if row.outcome in unsettled}
    created = next(row for row in rows if row.request_id == SAMPLES["created"].request_id)
    assert created.opportunity_id
    assert created.lead_id


async def test_the_text_is_a_short_reading_of_the_summary_not_the_json(
    mcp_client: Client,
) -> None:
    result = await mcp_client.call_tool("triage_capture_requests", {"request_ids": SAMPLE_IDS})
    text = text_of(result)
    assert text.startswith(f"Triaged {len(SAMPLE_IDS)} RequestIds on default in ")
    assert "3 created, 1 duplicate, 9 failed, 2 in queue, 1 error, 1 unknown." in text
    assert "Resubmit after fixing the request: 9 id(s)" in text
    assert "One row per id is in the structured content (rows)." in text
    assert len(text) < 2_500
    assert not text.lstrip().startswith("{")


async def test_the_rows_carry_the_columns_of_the_cli_and_the_summary_its_fields(
    mcp_client: Client,
) -> None:
    tools = {tool.name: tool for tool in (await mcp_client.list_tools()).tools}
    schema = tools["triage_capture_requests"].output_schema
    assert schema is not None
    assert tuple(TriageRowResult.model_fields) == TRIAGE_COLUMNS
    assert set(TriageSummaryResult.model_fields) == set(TriageSummary.model_fields)
    assert set(schema["properties"]) >= {"summary", "rows", "input", "accounts"}


async def test_ids_given_as_text_are_each_looked_up_once(mcp_client: Client) -> None:
    created, failed = SAMPLES["created"].request_id, SAMPLES["failure_invalid_input"].request_id
    text = (
        f"2026-11-28T10:00:01Z capture queued RequestID={created}\n"
        "2026-11-28T10:00:02Z heartbeat\n"
        f"2026-11-28T10:00:03Z capture queued RequestID={failed.upper()}\n"
        f"2026-11-28T10:00:04Z retry of {created}\n"
    )
    content = triaged(await mcp_client.call_tool("triage_capture_requests", {"text": text}))
    assert [row["request_id"] for row in content["rows"]] == [created, failed]
    assert [row["outcome"] for row in content["rows"]] == ["created", "failed"]
    assert content["input"] == (
        "Found 2 distinct RequestIds in 4 lines. Skipped 1 repeated mention, "
        "1 line without a RequestId."
    )


async def test_hostile_answers_come_back_masked_and_inert_in_rows_summary_and_text(
    mcp_client: Client, sim: Simulator
) -> None:
    ids = list(serve_hostile_answers(sim).values())
    result = await mcp_client.call_tool("triage_capture_requests", {"request_ids": ids})
    content = triaged(result)
    assert [row["request_id"] for row in content["rows"]] == ids
    assert_inert(json.dumps(content, ensure_ascii=False), limit=2_000 * len(ids))
    assert_inert(text_of(result), limit=5_000)


# --- progress -----------------------------------------------------------------------------


async def test_progress_is_reported_after_answers_counting_up_to_the_total(
    mcp_client: Client,
) -> None:
    progress = Progress()
    result = await mcp_client.call_tool(
        "triage_capture_requests", {"request_ids": SAMPLE_IDS}, progress_callback=progress
    )
    triaged(result)
    assert len(progress.notes) > 0
    done = [note[0] for note in progress.notes]
    assert done == sorted(set(done))  # strictly increasing
    assert done[-1] == len(SAMPLE_IDS)
    assert {note[1] for note in progress.notes} == {len(SAMPLE_IDS)}
    assert progress.notes[-1][2] == f"{len(SAMPLE_IDS)} of {len(SAMPLE_IDS)} looked up"


# --- refusals -------------------------------------------------------------------------------


async def test_more_ids_than_the_cap_are_refused_with_the_count_the_cap_and_the_cli(
    mcp_client: Client, sim: Simulator
) -> None:
    text = "\n".join(new_ids(TRIAGE_MAX_IDS + 1))
    message = refusal(await mcp_client.call_tool("triage_capture_requests", {"text": text}))
    assert f"Found {TRIAGE_MAX_IDS + 1} distinct RequestIds" in message
    assert f"at most {TRIAGE_MAX_IDS} are triaged at a time" in message
    assert "capture-status triage FILE" in message
    assert sim.calls == []


async def test_the_cap_counts_distinct_ids_so_repeats_do_not_count(mcp_client: Client) -> None:
    ids = [SAMPLES["created"].request_id] * (TRIAGE_MAX_IDS + 5)
    content = triaged(await mcp_client.call_tool("triage_capture_requests", {"request_ids": ids}))
    assert content["summary"]["total"] == 1


async def test_input_without_any_id_is_refused_saying_what_was_found_and_skipped(
    mcp_client: Client, sim: Simulator
) -> None:
    text = "capture failed for the Mumbai campaign\nsee the dashboard\n"
    message = refusal(await mcp_client.call_tool("triage_capture_requests", {"text": text}))
    assert message == (
        "Error executing tool triage_capture_requests: No RequestId to triage. Found 0 "
        "distinct RequestIds in 2 lines. Skipped 2 lines without a RequestId. A RequestId is "
        "a GUID such as c1d867a7-a325-4b68-954f-237dcd3c15e1 (the 'RequestID' the async API "
        "returned); give a file or text that contains some."
    )
    assert sim.calls == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "Give the RequestIds to triage: as request_ids (a list) or as text"),
        ({"request_ids": [], "text": "x"}, "Give the RequestIds as request_ids or as text, not"),
        ({"request_ids": []}, "No RequestId to triage. Found 0 distinct RequestIds in 0 lines."),
    ],
    ids=["neither", "both", "an-empty-list"],
)
async def test_ids_must_come_as_a_list_or_as_text(
    mcp_client: Client, arguments: dict[str, Any], expected: str
) -> None:
    result = await mcp_client.call_tool("triage_capture_requests", arguments)
    assert expected in refusal(result)


async def test_an_unknown_account_is_refused_before_any_lookup(
    mcp_client: Client, sim: Simulator
) -> None:
    result = await mcp_client.call_tool(
        "triage_capture_requests", {"request_ids": SAMPLE_IDS, "account": "mars"}
    )
    assert "There is no LeadSquared account called 'mars' here" in refusal(result)
    assert sim.calls == []


# --- cancellation ---------------------------------------------------------------------------


class TriageEnded(logging.Handler):
    """Set when the server logs that a triage ended (its lookups stopped, its tasks gone)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.ended = asyncio.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if line.startswith("triage by "):
            self.lines.append(line)
            self.ended.set()


@pytest.fixture
def triage_log() -> Iterator[TriageEnded]:
    logger = logging.getLogger("mcp_server.core")
    handler = TriageEnded()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_cancelling_a_triage_stops_its_lookups(
    make_server: ServerFactory, era: str, sim: Simulator, triage_log: TriageEnded
) -> None:
    ids = new_ids(100)  # at the real limit (23 calls per 5.25 s): about 20 s
    progress = Progress()
    async with held_in_a_task(Client(make_server(), mode=era)) as client:
        call = asyncio.create_task(
            client.call_tool(
                "triage_capture_requests", {"request_ids": ids}, progress_callback=progress
            )
        )
        async with asyncio.timeout(10):
            await progress.reached(3).wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        async with asyncio.timeout(10):
            await triage_log.ended.wait()
        (line,) = triage_log.lines
        ended = re.fullmatch(
            r"triage by mcp:stdio: (\d+) of 100 ids looked up in .+ \(stopped before the end\)",
            line,
        )
        assert ended is not None, line
        assert not [task for task in asyncio.all_tasks() if task.get_name() == "batch"]
        seen = len(sim.calls)
        assert 3 <= int(ended.group(1)) <= seen < len(ids)
        # the server still answers, and that answer is the only call LeadSquared sees now
        after = await client.call_tool(
            "get_capture_status", {"request_id": SAMPLES["created"].request_id}
        )
        assert not after.is_error
        assert len(sim.calls) == seen + 1
        assert sim.calls[-1].request_id == SAMPLES["created"].request_id
