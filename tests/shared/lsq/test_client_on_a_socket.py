"""The client against the simulator served by uvicorn on a real loopback socket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import SecretStr

from shared.errors import UpstreamConnectionError, UpstreamTimeoutError
from shared.lsq.client import CaptureStatusClient
from shared.lsq.models import StatusKind
from shared.lsq.upstream import UpstreamTimeouts
from shared.simulator import SAMPLES, Fault, FaultKind, Simulator, SimulatorConfig, create_app
from shared.simulator.server import serve_simulator
from tests.conftest import SIM_KEY, fast_options

# The window is scaled down from 25 per 5 s to keep the test quick; bench/ runs the real figure.
UPSTREAM_LIMIT = 40
WINDOW_SECONDS = 1
HEADROOM = 2
GUARD_SECONDS = 0.2
BURST = 200


def _capture_body(n: int) -> dict[str, Any]:
    return {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": f"burst{n}@example.com"},
            {"Attribute": "SearchBy", "Value": "EmailAddress"},
        ],
        "Opportunity": {
            "OpportunityEventCode": 12000,
            "OpportunityNote": "burst",
            "Fields": [{"SchemaName": "mx_Custom_1", "Value": f"Deal {n}"}],
        },
    }


async def test_a_burst_of_distinct_lookups_never_exceeds_the_budget_and_is_never_throttled() -> (
    None
):
    app = create_app(
        SimulatorConfig(
            api_key=SIM_KEY,
            rate_limit_calls=UPSTREAM_LIMIT,
            rate_limit_seconds=WINDOW_SECONDS,
            processing_seconds=0,
        )
    )
    sim: Simulator = app.state.simulator
    ids = [sim.submit(_capture_body(n)) for n in range(BURST)]
    assert len(set(ids)) == BURST
    async with serve_simulator(app) as url:
        client = CaptureStatusClient(
            fast_options(
                url,
                budget_calls=UPSTREAM_LIMIT - HEADROOM,
                budget_seconds=WINDOW_SECONDS,
                budget_guard_seconds=GUARD_SECONDS,
                deadline_seconds=60,
                max_concurrency=50,
                max_ids_per_call=BURST,
            ),
            SecretStr(SIM_KEY),
        )
        async with client, asyncio.timeout(60):
            results = await client.get_statuses(ids)
    assert all(r.ok for r in results), [r.error for r in results if r.error][:3]
    assert {r.status.status for r in results if r.status} == {StatusKind.SUCCESS}
    assert sim.count(status_code=429) == 0
    assert len(sim.calls) == BURST
    # within our own budget, not just under the upstream limit: the headroom held
    assert sim.max_calls_in_any_window(WINDOW_SECONDS) <= UPSTREAM_LIMIT - HEADROOM


async def test_a_connection_cut_on_a_real_socket_becomes_a_connection_error() -> None:
    app = create_app(SimulatorConfig(api_key=SIM_KEY))
    sim: Simulator = app.state.simulator
    sim.set_fault(Fault(kind=FaultKind.CONNECTION_RESET))
    async with serve_simulator(app) as url:
        client = CaptureStatusClient(fast_options(url, retry_attempts=2), SecretStr(SIM_KEY))
        async with client:
            with pytest.raises(UpstreamConnectionError, match="connection"):
                await client.get_status(SAMPLES["created"].request_id)
    assert len(sim.calls) == 2


async def test_latency_beyond_the_read_timeout_is_a_timeout_after_retries() -> None:
    app = create_app(SimulatorConfig(api_key=SIM_KEY))
    sim: Simulator = app.state.simulator
    sim.set_fault(Fault(kind=FaultKind.LATENCY, seconds=2.0))
    async with serve_simulator(app) as url:
        client = CaptureStatusClient(
            fast_options(url, timeouts=UpstreamTimeouts(read=0.1), retry_attempts=2),
            SecretStr(SIM_KEY),
        )
        async with client:
            with pytest.raises(UpstreamTimeoutError, match="in time"):
                await client.get_status(SAMPLES["created"].request_id)
    assert len(sim.calls) == 2
