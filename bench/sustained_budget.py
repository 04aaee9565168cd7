"""Sustained use of the budget: 30 s of lookups of ids never seen before.

The client looks up fresh ids as fast as its budget allows (every lookup is a cache miss)
against a simulator at LeadSquared's real limit. Goal: at least 90 % of the budget used
over the run, never more than the limit in any 5-s window, no 429.
"""

from __future__ import annotations

import asyncio
import time

from pydantic import SecretStr

from bench.fixtures import BENCH_KEY, simulator_with_captures
from bench.report import Figure
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.simulator.server import serve_simulator

NAME = "sustained budget"
SECONDS = 30.0
LIMIT, WINDOW = 25, 5
WORKERS = 30
GOAL = 0.90


async def run() -> list[Figure]:
    """Measure and return the figures."""
    app, sim, ids = simulator_with_captures(400, rate_limit_calls=LIMIT, rate_limit_seconds=WINDOW)
    fresh = iter(ids)
    async with serve_simulator(app) as url:
        options = ClientOptions(base_url=url, deadline_seconds=60)
        budget_calls = options.budget_calls
        async with CaptureStatusClient(options, SecretStr(BENCH_KEY)) as client:
            started = time.monotonic()
            stop_at = started + SECONDS

            async def worker() -> None:
                while time.monotonic() < stop_at:
                    rid = next(fresh)
                    await client.get_status(rid)

            await asyncio.gather(*(worker() for _ in range(WORKERS)))
    in_run = [c for c in sim.calls if c.at <= stop_at]
    allowed = budget_calls * SECONDS / WINDOW
    used = len(in_run) / allowed
    busiest = sim.max_calls_in_any_window(WINDOW)
    throttled = sim.count(status_code=429)
    return [
        Figure(
            NAME,
            f"calls in {SECONDS:.0f} s / budget ({budget_calls} per {WINDOW} s)",
            f"{len(in_run)} / {allowed:.0f} = {used:.0%}",
            f">= {GOAL:.0%}",
            used >= GOAL,
        ),
        Figure(
            NAME,
            f"of LeadSquared's limit ({LIMIT} per {WINDOW} s)",
            f"{len(in_run) / (LIMIT * SECONDS / WINDOW):.0%}",
        ),
        Figure(
            NAME,
            f"most calls sent in any {WINDOW}-s window",
            str(busiest),
            f"<= budget {options.budget_calls}",
            busiest <= options.budget_calls,
        ),
        Figure(NAME, "HTTP 429", str(throttled), "0", throttled == 0),
    ]


if __name__ == "__main__":
    from bench.report import print_figures

    print_figures(asyncio.run(run()))
