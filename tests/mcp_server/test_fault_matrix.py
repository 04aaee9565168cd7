"""Fault matrix, MCP: every upstream fault gets a clear tool result in time; no call is lost.

The tools are called through the SDK's in-memory client, on a server built from settings as
``python -m mcp_server`` builds it (its core opens the client from the settings, with the
matrix's short timeouts), talking to the simulator on a real loopback socket so that
connection resets and read timeouts are real.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from mcp_server.results import CaptureStatusesResult, CaptureStatusResult
from mcp_server.server import build_server
from shared.simulator import SAMPLES, Simulator
from tests.conftest import SIM_KEY
from tests.fault_matrix import FAULT_CASES, FAULT_SETTINGS, FaultCase, faulty_upstream
from tests.mcp_server.conftest import make_settings, structured, text_of
from tests.mcp_server.test_errors import assert_our_words

CREATED = SAMPLES["created"].request_id
DUPLICATE = SAMPLES["duplicate"].request_id
FAILED = SAMPLES["failure_invalid_activity_fields"].request_id
#: the lookup's whole deadline, plus room for the MCP round trip
ANSWER_WITHIN = float(FAULT_SETTINGS["LSQ_LOOKUP_DEADLINE_SECONDS"]) + 2.0
#: the matrix's client settings, as Settings field names
FAULT_OVERRIDES: dict[str, Any] = {name.lower(): value for name, value in FAULT_SETTINGS.items()}
ATTEMPTS = int(FAULT_SETTINGS["LSQ_RETRY_ATTEMPTS"])


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Simulator, str]]:
    async with faulty_upstream(SIM_KEY) as served:
        yield served


def _client(url: str, **overrides: Any) -> Client:
    """An in-memory MCP client of a server whose core opens its client from the settings."""
    settings = make_settings(lsq_async_base_url=url, **{**FAULT_OVERRIDES, **overrides})
    return Client(build_server(settings))


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("case", FAULT_CASES, ids=lambda c: c.name)
async def test_each_fault_gets_a_clear_tool_result_within_the_deadline(
    case: FaultCase, upstream: tuple[Simulator, str], caplog: pytest.LogCaptureFixture
) -> None:
    sim, url = upstream
    sim.set_fault(case.fault)
    async with _client(url) as client:
        async with asyncio.timeout(ANSWER_WITHIN):
            result = await client.call_tool("get_capture_status", {"request_id": CREATED})
    assert len(sim.calls) <= ATTEMPTS  # retried within bounds, never hammered
    text = text_of(result)
    assert case.says.lower() in text.lower()
    if case.codes:
        assert result.is_error
        assert result.structured_content is None
        assert_our_words(text)
    else:
        status = CaptureStatusResult.model_validate(structured(result))
        assert status.status == "unknown"
        assert status.status_raw == case.says
        assert not status.is_final
    assert _errors_logged(caplog) == []


@pytest.mark.parametrize("case", FAULT_CASES, ids=lambda c: c.name)
async def test_a_fault_on_one_id_of_a_batch_fails_only_that_entry(
    case: FaultCase, upstream: tuple[Simulator, str], caplog: pytest.LogCaptureFixture
) -> None:
    sim, url = upstream
    # With LSQ_MAX_CONCURRENCY=1 the ids are looked up one at a time, in order, and the fault
    # lasts for the calls one lookup makes (each attempt of a retried error): the first id's.
    throttle = "rate_limited" in case.codes
    retried = case.codes & {
        "timeout",
        "deadline_exceeded",
        "server_error",
        "connection",
        "malformed_response",
    }
    calls = ATTEMPTS if retried else 1
    sim.set_fault(case.fault.model_copy(update={"remaining": calls}))
    ids = [CREATED, DUPLICATE, FAILED]
    async with _client(url, lsq_max_concurrency=1) as client:
        async with asyncio.timeout(len(ids) * ANSWER_WITHIN):
            result = await client.call_tool("get_capture_statuses", {"request_ids": ids})
    batch = CaptureStatusesResult.model_validate(structured(result))
    first, *others = batch.results
    assert [entry.query for entry in batch.results] == ids
    if not case.codes:
        assert (first.result, first.status) == ("found", "unknown")
    else:
        assert first.result == "error"
        assert first.error is not None
        assert first.error.code in case.codes
    if throttle:
        # a throttle pauses every lookup (the shared cooldown) rather than hammer on
        assert all(e.error is not None and e.error.code == "rate_limited" for e in others)
        assert len(sim.calls) == 1
        assert batch.errors == len(ids)
    else:
        assert [(e.result, e.status) for e in others] == [
            ("found", "Success"),
            ("found", "FAILURE"),
        ]
        assert batch.errors == (1 if case.codes else 0)
    assert _errors_logged(caplog) == []
