"""The three questions of ``bench/triage.py`` with three processes sharing one account through
Redis (``REDIS_URL``), as replicas behind a load balancer do.

1. **Throughput**: three ``capture-status triage`` processes, each with a third of 1,000 ids,
   started together; wall time from the first start to the last exit against the floor of
   1,000 ids (the three share one budget); peak RSS is the largest of the three.
2. **People first**: a batch in one process (``python -m bench.lanes``, bulk lane), a Slack
   user's lookups in a second and an assistant's in a third (interactive lane).
3. **Fairness**: user 1's batch in one process, user 2's in another, user 3's single lookup
   in the third.

The goals are those of ``bench/triage.py``. A private ``redis-server`` runs on a free
loopback port for the run.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.lanes import BatchRun, InteractiveRun
from bench.report import Figure
from bench.triage import (
    FAIR_IDS,
    GOAL_RSS_MB,
    PEOPLE_BATCH,
    PEOPLE_INTERVAL,
    ROOT,
    THIRD_USER_AFTER,
    THROUGHPUT_IDS,
    cli_triage,
    environment,
    fairness_figures,
    people_figures,
    simulator,
    throughput_figures,
    upstream_figures,
)
from tests.redis_server import running_redis

NAME = "triage_replicas"
REPLICAS = 3
#: seconds the worker processes get to start before the agreed start time
START_MARGIN = 3.0


async def worker(job: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one role of ``bench.lanes`` in a process of its own; its result as data."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.lanes",
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(json.dumps(job).encode())
    if process.returncode != 0:
        raise RuntimeError(f"bench.lanes {job['role']} failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def _batch(data: dict[str, Any]) -> BatchRun:
    return BatchRun(
        principal=data["principal"],
        started=data["started"],
        ended=data["ended"],
        answered=data["answered"],
        errors=Counter(data["errors"]),
    )


def _interactive(data: dict[str, Any]) -> InteractiveRun:
    return InteractiveRun(
        principal=data["principal"], latencies=data["latencies"], errors=Counter(data["errors"])
    )


def _thirds(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[n::REPLICAS]) for n in range(REPLICAS)]


async def measure_throughput(redis_url: str) -> list[Figure]:
    """Question 1: three CLI processes, one budget."""
    async with simulator(THROUGHPUT_IDS) as (sim, url, ids):
        env = environment(url, REDIS_URL=redis_url)
        with tempfile.TemporaryDirectory() as workdir:
            runs = await asyncio.gather(
                *(
                    cli_triage(part, env, Path(workdir), str(n))
                    for n, part in enumerate(_thirds(ids))
                )
            )
    label = f"triage of {THROUGHPUT_IDS} ids, {REPLICAS} processes"
    wall = max(r.ended for r in runs) - min(r.started for r in runs)
    rss_mb = max(r.peak_rss for r in runs) / 1024 / 1024
    rows = sum(r.rows for r in runs)
    codes = sorted({r.exit_code for r in runs})
    return [
        *throughput_figures(NAME, label, wall, THROUGHPUT_IDS),
        Figure(
            NAME,
            f"{label}: rows written, exit statuses",
            f"{rows}, {codes}",
            f"{THROUGHPUT_IDS}, [0]",
            rows == THROUGHPUT_IDS and codes == [0],
        ),
        Figure(
            NAME,
            f"{label}: largest peak RSS",
            f"{rss_mb:.1f} MB",
            f"<= {GOAL_RSS_MB} MB",
            rss_mb <= GOAL_RSS_MB,
        ),
        *upstream_figures(NAME, label, sim),
    ]


async def measure_people_first(redis_url: str) -> list[Figure]:
    """Question 2: the batch and each kind of person in a process of their own."""
    people_ids = int(PEOPLE_BATCH / 23 * 5 / PEOPLE_INTERVAL) + 5
    async with simulator(PEOPLE_BATCH + 2 * people_ids) as (sim, url, ids):
        env = environment(url, REDIS_URL=redis_url)
        start = time.time() + START_MARGIN
        batch, slack, mcp = await asyncio.gather(
            worker(
                {
                    "role": "batch",
                    "ids": ids[:PEOPLE_BATCH],
                    "principal": "cli:bench",
                    "start_at": start,
                },
                env,
            ),
            worker(
                {
                    "role": "interactive",
                    "ids": ids[PEOPLE_BATCH : PEOPLE_BATCH + people_ids],
                    "principal": "slack:T1:U2",
                    "interval": PEOPLE_INTERVAL,
                    "start_at": start,
                },
                env,
            ),
            worker(
                {
                    "role": "interactive",
                    "ids": ids[PEOPLE_BATCH + people_ids :],
                    "principal": "mcp:ops",
                    "interval": PEOPLE_INTERVAL,
                    "start_at": start + PEOPLE_INTERVAL / 2,
                },
                env,
            ),
        )
    label = f"people during a batch, {REPLICAS} processes"
    return people_figures(NAME, label, _batch(batch), [_interactive(slack), _interactive(mcp)], sim)


async def measure_fairness(redis_url: str) -> list[Figure]:
    """Question 3: each user in a process of their own."""
    async with simulator(2 * FAIR_IDS + 1) as (sim, url, ids):
        env = environment(url, REDIS_URL=redis_url)
        start = time.time() + START_MARGIN
        first, second, third = await asyncio.gather(
            worker(
                {
                    "role": "batch",
                    "ids": ids[:FAIR_IDS],
                    "principal": "slack:T1:U1",
                    "start_at": start,
                },
                env,
            ),
            worker(
                {
                    "role": "batch",
                    "ids": ids[FAIR_IDS : 2 * FAIR_IDS],
                    "principal": "slack:T1:U2",
                    "start_at": start,
                },
                env,
            ),
            worker(
                {
                    "role": "interactive",
                    "ids": ids[-1:],
                    "principal": "slack:T1:U3",
                    "interval": 1.0,
                    "start_at": start + THIRD_USER_AFTER,
                },
                env,
            ),
        )
    label = f"fairness, {REPLICAS} processes"
    return fairness_figures(NAME, label, [_batch(first), _batch(second)], _interactive(third), sim)


async def run() -> list[Figure]:
    """Every figure of this benchmark."""
    async with running_redis() as redis_server:
        figures = await measure_throughput(redis_server.url)
        figures += await measure_people_first(redis_server.url)
        figures += await measure_fairness(redis_server.url)
    return figures


def main() -> int:
    """``python -m bench.triage_replicas``: print the figures."""
    from bench.report import print_figures

    figures = asyncio.run(run())
    print_figures(figures)
    return 1 if any(f.passed is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
