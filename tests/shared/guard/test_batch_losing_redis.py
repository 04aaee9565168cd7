"""A batch that loses Redis half-way goes on at this replica's share, and loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from pydantic import SecretStr

from shared.guard.lanes import Caller
from shared.guard.redis_link import RedisLink
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.batch import BatchProgress
from shared.service.capture_service import CaptureService
from shared.simulator import Simulator, SimulatorConfig, create_app
from tests.conftest import SIM_KEY, fast_options
from tests.redis_server import running_redis

# Scaled down from 25 per 5 s so that the test stays short (as in test_replicas).
LIMIT, WINDOW = 20, 1
BUDGET, SHARE, GUARD = 16, 8, 0.1
IDS, KILL_AFTER = 30, 10


def _body(n: int) -> dict[str, Any]:
    return {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": f"outage{n}@example.com"},
            {"Attribute": "SearchBy", "Value": "EmailAddress"},
        ],
        "Opportunity": {"OpportunityEventCode": 12000, "Fields": [{"SchemaName": "mx_Custom_1"}]},
    }


def _most_in_any_window(sim: Simulator, since: float) -> int:
    """The most calls the simulator saw in any ``WINDOW`` starting at or after ``since``."""
    times = sorted(call.at for call in sim.calls if call.at >= since)
    return max(
        (sum(1 for other in times if start <= other < start + WINDOW) for start in times),
        default=0,
    )


async def test_losing_redis_mid_batch_goes_on_at_the_share_and_answers_each_id_once() -> None:
    app = create_app(
        SimulatorConfig(
            api_key=SIM_KEY, rate_limit_calls=LIMIT, rate_limit_seconds=WINDOW, processing_seconds=0
        )
    )
    sim: Simulator = app.state.simulator
    ids = [sim.submit(_body(n)) for n in range(IDS)]
    async with running_redis() as redis_server:
        link = RedisLink(redis_server.url)
        client = CaptureStatusClient(
            fast_options(
                budget_calls=BUDGET,
                budget_seconds=WINDOW,
                budget_guard_seconds=GUARD,
                fallback_budget_calls=SHARE,
                limit_calls=LIMIT,
            ),
            SecretStr(SIM_KEY),
            transport=in_process_transport(app),
            link=link,
        )
        service = CaptureService.for_client(client)
        lost: dict[str, Any] = {}

        def lose_redis(progress: BatchProgress) -> None:
            if progress.done == KILL_AFTER:
                lost["shared_until_then"] = client.budget.shared
                redis_server.kill()
                lost["at"] = time.monotonic()

        try:
            async with asyncio.timeout(60):
                views = [
                    view
                    async for view in service.look_up_many(
                        ids, caller=Caller.bulk("cli:4242"), on_progress=lose_redis
                    )
                ]
        finally:
            await client.aclose()
            await link.aclose()

    assert lost["shared_until_then"]  # the first part of the batch used the shared window
    assert not client.budget.shared
    assert link.outages == 1
    # every id answered exactly once, and asked about once: nothing lost, nothing twice
    assert Counter(view.request_id for view in views) == Counter(ids)
    assert all(view.found for view in views)
    assert Counter(call.request_id for call in sim.calls) == Counter(ids)
    # LeadSquared never saw more than its limit, and after the loss no more than the share
    assert sim.count(status_code=429) == 0
    assert sim.max_calls_in_any_window(WINDOW) <= LIMIT
    assert _most_in_any_window(sim, since=lost["at"]) <= SHARE
    after = [call.at - lost["at"] for call in sim.calls if call.at >= lost["at"]]
    assert len(after) >= IDS - KILL_AFTER - 1  # the batch went on (one call may have been out)
    # the share starts a whole window after the loss: the shared window may have been full
    assert min(after) >= WINDOW
