"""Upstream calls per lookup: 1,000 lookups over 100 ids, against a naive client.

The same workload runs twice against fresh simulators at LeadSquared's real limit (25 per
5 s): once through the client (cache, single-flight, budget), once through a naive client
that makes one GET per lookup. Goal: <= 0.12 calls per lookup and no 429 for the client.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import httpx
from pydantic import SecretStr

from bench.fixtures import BENCH_KEY, simulator_with_captures
from bench.report import Figure
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.simulator import SAMPLES
from shared.simulator.server import serve_simulator

NAME = "calls per lookup"
LOOKUPS = 1_000
IDS = 100
CONCURRENCY = 20
GOAL = 0.12


def _workload(ids: list[str]) -> list[str]:
    rng = random.Random(7)  # the same order for both clients
    return [rng.choice(ids) for _ in range(LOOKUPS)]


async def _drive(lookup: Callable[[str], Awaitable[None]], order: list[str]) -> float:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(rid: str) -> None:
        async with gate:
            await lookup(rid)

    started = time.perf_counter()
    await asyncio.gather(*(one(rid) for rid in order))
    return time.perf_counter() - started


async def run() -> list[Figure]:
    """Measure both clients and return the figures."""
    # 98 finished captures and the two seeded In-Queue requests, which stay In-Queue.
    app, sim, ids = simulator_with_captures(IDS - 2)
    ids += [SAMPLES["in_queue"].request_id, SAMPLES["in_queue_lowercase"].request_id]
    order = _workload(ids)
    async with serve_simulator(app) as url:
        client = CaptureStatusClient(
            ClientOptions(base_url=url, deadline_seconds=120), SecretStr(BENCH_KEY)
        )
        async with client:

            async def ours(rid: str) -> None:
                await client.get_status(rid)

            ours_seconds = await _drive(ours, order)
    ours_calls, ours_429 = len(sim.calls), sim.count(status_code=429)

    naive_app, naive_sim, naive_ids = simulator_with_captures(IDS - 2)
    naive_ids += [SAMPLES["in_queue"].request_id, SAMPLES["in_queue_lowercase"].request_id]
    naive_order = [naive_ids[ids.index(rid)] for rid in order]
    async with (
        serve_simulator(naive_app) as url,
        httpx.AsyncClient(base_url=url, headers={"x-api-key": BENCH_KEY}) as naive,
    ):

        async def one_call(rid: str) -> None:
            await naive.get("/opportunity/status", params={"RequestID": rid})

        await _drive(one_call, naive_order)
    naive_calls, naive_429 = len(naive_sim.calls), naive_sim.count(status_code=429)

    per_lookup = ours_calls / LOOKUPS
    return [
        Figure(
            NAME,
            f"client: upstream calls for {LOOKUPS} lookups of {IDS} ids",
            f"{ours_calls} ({per_lookup:.3f} per lookup)",
            f"<= {GOAL} per lookup",
            per_lookup <= GOAL,
        ),
        Figure(NAME, "client: HTTP 429", str(ours_429), "0", ours_429 == 0),
        Figure(NAME, "client: wall time", f"{ours_seconds:.1f} s"),
        Figure(
            NAME,
            "naive client: upstream calls / HTTP 429",
            f"{naive_calls} ({naive_calls / LOOKUPS:.2f} per lookup) / {naive_429}",
            "baseline",
        ),
    ]


if __name__ == "__main__":
    from bench.report import print_figures

    print_figures(asyncio.run(run()))
