"""Lookup overhead: the client (cache miss) against a raw httpx GET + json, same simulator.

Both run in this process against one simulator on a loopback socket, alternating call by
call so that drift affects both alike. The client's budget is raised out of the way: this measures
what the client adds per call (validation, limiter, retry wrapper, parsing), not waiting.
Goal: client median <= 1.3 x raw median.
"""

from __future__ import annotations

import json
import statistics
import time

import httpx
from pydantic import SecretStr

from bench.fixtures import BENCH_KEY, simulator_with_captures
from bench.report import Figure, percentile
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.simulator.server import serve_simulator

NAME = "lookup overhead"
LOOKUPS = 600
GOAL = 1.3


async def run() -> list[Figure]:
    """Measure and return the figures."""
    app, _, ids = simulator_with_captures(2 * LOOKUPS + 1, rate_limit_calls=100_000)
    raw_ms: list[float] = []
    client_ms: list[float] = []
    async with serve_simulator(app) as url:
        options = ClientOptions(base_url=url, budget_calls=100_000, budget_seconds=1)
        async with (
            CaptureStatusClient(options, SecretStr(BENCH_KEY)) as client,
            httpx.AsyncClient(base_url=url, headers={"x-api-key": BENCH_KEY}) as raw,
        ):
            # warm both connection pools and code paths
            await client.get_status(ids[0], use_cache=False)
            json.loads((await raw.get("/opportunity/status", params={"RequestID": ids[0]})).text)
            # Alternate one raw call and one client call so drift touches both alike.
            for raw_id, client_id in zip(ids[1::2], ids[2::2], strict=False):
                started = time.perf_counter()
                response = await raw.get("/opportunity/status", params={"RequestID": raw_id})
                json.loads(response.text)
                raw_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await client.get_status(client_id, use_cache=False)
                client_ms.append((time.perf_counter() - started) * 1000)
    raw_median = statistics.median(raw_ms)
    client_median = statistics.median(client_ms)
    ratio = client_median / raw_median
    return [
        Figure(NAME, "raw httpx GET + json, median", f"{raw_median:.2f} ms"),
        Figure(NAME, "client lookup (cache miss), median", f"{client_median:.2f} ms"),
        Figure(NAME, "client lookup, p99", f"{percentile(client_ms, 99):.2f} ms"),
        Figure(NAME, "ratio client / raw", f"{ratio:.2f}x", f"<= {GOAL}x", ratio <= GOAL),
    ]


if __name__ == "__main__":
    import asyncio

    from bench.report import print_figures

    print_figures(asyncio.run(run()))
