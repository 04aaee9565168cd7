"""200 lookups of distinct ids at LeadSquared's real limit (25 calls per 5 s).

The simulator runs on a loopback socket with its own moving window as the referee; the client
runs with its default budget (25 minus 2 calls of headroom, plus the jitter guard). Goal: zero
429s and never more than 25 calls in any 5-s window (the simulator's own log).
"""

from __future__ import annotations

import asyncio
import time

from pydantic import SecretStr

from bench.report import Figure
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.simulator import Simulator, SimulatorConfig, create_app
from shared.simulator.server import serve_simulator

NAME = "burst at 25/5 s"
LOOKUPS = 200
LIMIT, WINDOW = 25, 5
KEY = "bench-key"


def _body(n: int) -> dict[str, object]:
    return {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": f"lead{n}@example.com"},
            {"Attribute": "SearchBy", "Value": "EmailAddress"},
        ],
        "Opportunity": {"OpportunityEventCode": 12000, "Fields": [{"SchemaName": "mx_Custom_1"}]},
    }


async def run() -> list[Figure]:
    """Run the burst and return its figures."""
    app = create_app(
        SimulatorConfig(
            api_key=KEY, rate_limit_calls=LIMIT, rate_limit_seconds=WINDOW, processing_seconds=0
        )
    )
    sim: Simulator = app.state.simulator
    ids = [sim.submit(_body(n)) for n in range(LOOKUPS)]
    async with serve_simulator(app) as url:
        options = ClientOptions(
            base_url=url, deadline_seconds=120, max_concurrency=50, max_ids_per_call=LOOKUPS
        )
        async with CaptureStatusClient(options, SecretStr(KEY)) as client:
            started = time.perf_counter()
            results = await client.get_statuses(ids)
            elapsed = time.perf_counter() - started
    failed = sum(not r.ok for r in results)
    throttled = sim.count(status_code=429)
    busiest = sim.max_calls_in_any_window(WINDOW)
    rate = len(sim.calls) / elapsed * WINDOW
    return [
        Figure(NAME, "lookups answered", f"{LOOKUPS - failed}/{LOOKUPS}", "all", failed == 0),
        Figure(NAME, "HTTP 429 seen by the simulator", str(throttled), "0", throttled == 0),
        Figure(
            NAME,
            f"most calls sent in any {WINDOW}-s window",
            str(busiest),
            f"<= budget {options.budget_calls}",
            busiest <= options.budget_calls,
        ),
        Figure(
            NAME,
            f"calls per {WINDOW} s, sustained",
            f"{rate:.1f}",
            f"budget {options.budget_calls}",
        ),
        Figure(NAME, "wall time", f"{elapsed:.1f} s"),
    ]


if __name__ == "__main__":
    from bench.report import print_figures

    print_figures(asyncio.run(run()))
