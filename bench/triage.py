"""Bulk triage at the budget's floor, people first while it runs, and fair shares between users.

Three questions, each against the simulator on a loopback socket at LeadSquared's real limit
(25 calls per 5 s; capture-status allows itself 23, the rest is headroom), every capture
already final, every id distinct (so every lookup is an upstream call):

1. **Throughput**: ``capture-status triage`` (the real CLI, its own process) of 1,000 ids.
   Goal: wall time <= 1.05x the budget floor (1,000 / 23 per window x 5 s = 217.4 s), zero
   429s, never more than 23 calls in any 5-s window at the upstream, peak RSS <= 150 MB.
2. **People first**: a batch of ``PEOPLE_BATCH`` ids on the bulk lane while a Slack user
   looks one fresh id up every 2 s and an assistant calls ``get_capture_status`` every 2 s
   (offset by 1 s), both on the interactive lane. Goals: the interactive lookups' p99 <= one
   window (5 s: the whole lookup, budget wait included, so the budget wait is less), and the
   batch uses >= 80 % of the budget the interactive traffic leaves (its calls / (23 per 5 s
   x its duration - the interactive calls)).
3. **Fairness**: two users each start a batch of 100 ids at once (what a Slack triage job
   does); a third user looks one id up 10 s later. Goals: the two finish within 10 % of each
   other; the third user's lookup takes <= one window.

``bench/triage_replicas.py`` answers the same three with three processes sharing Redis.
Roles 2 and 3 run in this process on one ``CaptureService`` (the front doors are thin: the
bot and the MCP server call the same use cases with these callers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fixtures import BENCH_KEY, simulator_with_captures
from bench.lanes import BatchRun, InteractiveRun, run_batch, run_interactive
from bench.memory import read_rss
from bench.report import Figure, percentile
from shared import defaults, load_settings, open_service
from shared.simulator import Simulator
from shared.simulator.server import serve_simulator

NAME = "triage"
ROOT = Path(__file__).resolve().parents[1]
WINDOW = float(defaults.RATE_LIMIT_SECONDS)
BUDGET = defaults.budget_calls()
THROUGHPUT_IDS = 1_000
PEOPLE_BATCH = 300
PEOPLE_INTERVAL = 2.0
FAIR_IDS = 100
THIRD_USER_AFTER = 10.0
GOAL_FLOOR_RATIO = 1.05
GOAL_RSS_MB = 150
GOAL_SHARE = 0.80
GOAL_FAIR_SPREAD = 0.10


def floor_seconds(ids: int) -> float:
    """The budget floor: ``ids`` calls at 23 per 5-s window."""
    return ids / BUDGET * WINDOW


def environment(simulator_url: str, **extra: str) -> dict[str, str]:
    """A clean environment for a capture-status process against the simulator."""
    prefixes = ("SLACK_", "LSQ_", "MCP_", "REDIS_", "DATABASE_")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefixes)}
    env.update(
        {"LSQ_API_KEY": BENCH_KEY, "LSQ_ASYNC_BASE_URL": simulator_url, "LSQ_LOG_LEVEL": "WARNING"}
    )
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class CliRun:
    """One ``capture-status triage`` process."""

    started: float
    ended: float
    exit_code: int
    peak_rss: int
    rows: int


async def cli_triage(ids: Sequence[str], env: dict[str, str], workdir: Path, tag: str) -> CliRun:
    """Run ``capture-status triage`` over ``ids`` (JSONL to a file); time it and sample its RSS."""
    source = workdir / f"ids-{tag}.txt"
    source.write_text("\n".join(ids) + "\n")
    output = workdir / f"rows-{tag}.jsonl"
    started = time.time()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "triage",
        str(source),
        "--format",
        "jsonl",
        "--output",
        str(output),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    peak = 0
    waiting = asyncio.create_task(process.wait())
    while not waiting.done():
        with contextlib.suppress(OSError):
            peak = max(peak, read_rss(process.pid).hwm)
        await asyncio.wait({waiting}, timeout=0.5)
    ended = time.time()
    rows = len(output.read_text().splitlines()) if output.exists() else 0
    return CliRun(started, ended, waiting.result(), peak, rows)


@contextlib.asynccontextmanager
async def simulator(count: int) -> AsyncGenerator[tuple[Simulator, str, list[str]]]:
    """A fresh simulator at the real limit with ``count`` final captures, on loopback."""
    app, sim, ids = simulator_with_captures(count)
    async with serve_simulator(app) as url:
        yield sim, url, ids


def upstream_figures(bench: str, label: str, sim: Simulator) -> list[Figure]:
    """Zero 429s, and never more than the budget in any window, as the simulator saw them."""
    throttled = sim.count(status_code=429)
    most = sim.max_calls_in_any_window(WINDOW)
    return [
        Figure(bench, f"{label}: HTTP 429 answers", str(throttled), "0", throttled == 0),
        Figure(
            bench,
            f"{label}: most calls in any 5-s window",
            str(most),
            f"<= {BUDGET}",
            most <= BUDGET,
        ),
    ]


def throughput_figures(bench: str, label: str, wall: float, ids: int) -> list[Figure]:
    """Wall time against the budget floor."""
    floor = floor_seconds(ids)
    ratio = wall / floor
    return [
        Figure(
            bench,
            f"{label}: wall time / budget floor ({floor:.1f} s)",
            f"{wall:.1f} s = {ratio:.3f}x",
            f"<= {GOAL_FLOOR_RATIO}x",
            ratio <= GOAL_FLOOR_RATIO,
        )
    ]


def people_figures(
    bench: str, label: str, batch: BatchRun, people: Sequence[InteractiveRun], sim: Simulator
) -> list[Figure]:
    """The interactive lookups' p99, and the batch's share of what they left."""
    latencies = [x for run in people for x in run.latencies]
    errors = sum(sum(run.errors.values()) for run in people)
    p99 = percentile(latencies, 99)
    duration = batch.ended - batch.started
    interactive_calls = len(latencies)
    left = BUDGET / WINDOW * duration - interactive_calls
    share = batch.answered / left if left > 0 else 0.0
    return [
        Figure(
            bench,
            f"{label}: interactive lookup p99 during the batch ({len(latencies)} lookups)",
            f"{p99 * 1000:.0f} ms (p50 {percentile(latencies, 50) * 1000:.0f} ms)",
            f"<= {WINDOW * 1000:.0f} ms",
            p99 <= WINDOW and errors == 0,
        ),
        Figure(
            bench,
            f"{label}: batch's share of the budget left by people",
            f"{share:.1%} ({batch.answered} ids in {duration:.1f} s)",
            f">= {GOAL_SHARE:.0%}",
            share >= GOAL_SHARE and not batch.errors,
        ),
        *upstream_figures(bench, label, sim),
    ]


def fairness_figures(
    bench: str, label: str, users: Sequence[BatchRun], third: InteractiveRun, sim: Simulator
) -> list[Figure]:
    """How close the two batches finished, and how long the third user waited."""
    first, second = (run.ended - run.started for run in users)
    spread = abs(first - second) / max(first, second)
    third_latency = third.latencies[0] if third.latencies else float("inf")
    answered = all(run.answered == FAIR_IDS and not run.errors for run in users)
    return [
        Figure(
            bench,
            f"{label}: two users' {FAIR_IDS}-id batches, finish times",
            f"{first:.1f} s and {second:.1f} s ({spread:.1%} apart)",
            f"<= {GOAL_FAIR_SPREAD:.0%} apart",
            spread <= GOAL_FAIR_SPREAD and answered,
        ),
        Figure(
            bench,
            f"{label}: a third user's lookup meanwhile",
            f"{third_latency * 1000:.0f} ms",
            f"<= {WINDOW * 1000:.0f} ms",
            third_latency <= WINDOW and not third.errors,
        ),
        *upstream_figures(bench, label, sim),
    ]


async def measure_throughput() -> list[Figure]:
    """Question 1: the real CLI over 1,000 ids."""
    async with simulator(THROUGHPUT_IDS) as (sim, url, ids):
        with tempfile.TemporaryDirectory() as workdir:
            run = await cli_triage(ids, environment(url), Path(workdir), "all")
    label = f"triage of {THROUGHPUT_IDS} ids, one process"
    rss_mb = run.peak_rss / 1024 / 1024
    return [
        *throughput_figures(NAME, label, run.ended - run.started, THROUGHPUT_IDS),
        Figure(
            NAME,
            f"{label}: rows written, exit status",
            f"{run.rows}, {run.exit_code}",
            f"{THROUGHPUT_IDS}, 0",
            run.rows == THROUGHPUT_IDS and run.exit_code == 0,
        ),
        Figure(
            NAME,
            f"{label}: peak RSS",
            f"{rss_mb:.1f} MB",
            f"<= {GOAL_RSS_MB} MB",
            rss_mb <= GOAL_RSS_MB,
        ),
        *upstream_figures(NAME, label, sim),
    ]


async def measure_people_first() -> list[Figure]:
    """Question 2, in one process."""
    people_ids = int(PEOPLE_BATCH / BUDGET * WINDOW / PEOPLE_INTERVAL) + 5
    async with simulator(PEOPLE_BATCH + 2 * people_ids) as (sim, url, ids):
        batch_ids, slack_ids, mcp_ids = (
            ids[:PEOPLE_BATCH],
            ids[PEOPLE_BATCH : PEOPLE_BATCH + people_ids],
            ids[PEOPLE_BATCH + people_ids :],
        )
        settings = load_settings(_env_file=None, lsq_api_key=BENCH_KEY, lsq_async_base_url=url)
        async with open_service(settings) as service:
            start = time.time() + 0.5
            batch, slack, mcp = await asyncio.gather(
                run_batch(service, batch_ids, "cli:bench", start_at=start),
                run_interactive(
                    service, slack_ids, "slack:T1:U2", interval=PEOPLE_INTERVAL, start_at=start
                ),
                run_interactive(
                    service,
                    mcp_ids,
                    "mcp:ops",
                    interval=PEOPLE_INTERVAL,
                    start_at=start + PEOPLE_INTERVAL / 2,
                ),
            )
    return people_figures(NAME, "people during a batch, one process", batch, [slack, mcp], sim)


async def measure_fairness() -> list[Figure]:
    """Question 3, in one process."""
    async with simulator(2 * FAIR_IDS + 1) as (sim, url, ids):
        settings = load_settings(_env_file=None, lsq_api_key=BENCH_KEY, lsq_async_base_url=url)
        async with open_service(settings) as service:
            start = time.time() + 0.5
            first, second, third = await asyncio.gather(
                run_batch(service, ids[:FAIR_IDS], "slack:T1:U1", start_at=start),
                run_batch(service, ids[FAIR_IDS : 2 * FAIR_IDS], "slack:T1:U2", start_at=start),
                run_interactive(
                    service,
                    ids[-1:],
                    "slack:T1:U3",
                    interval=1.0,
                    start_at=start + THIRD_USER_AFTER,
                ),
            )
    return fairness_figures(NAME, "fairness, one process", [first, second], third, sim)


async def run() -> list[Figure]:
    """Every figure of this benchmark."""
    figures = await measure_throughput()
    figures += await measure_people_first()
    figures += await measure_fairness()
    return figures


def main() -> int:
    """``python -m bench.triage``: print the figures."""
    from bench.report import print_figures

    figures = asyncio.run(run())
    print_figures(figures)
    return 1 if any(f.passed is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
