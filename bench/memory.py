"""Resident memory of the Slack app and of the MCP server under load (goal <= 120 MB each).

Both run as real processes on loopback, exactly as deployed, one after the other:

- ``python -m bot`` in HTTP mode under the Slack ack load of ``bench.slack_ack`` (its own
  machinery): 200 signed ``/capture-status`` commands at 50/s, open loop, every lookup held
  5 s upstream by a simulator latency fault, so all 200 lookups are in flight at once; the
  answers are delivered to a local response_url receiver.
- ``python -m mcp_server --transport http`` (bearer token) under 200 ``get_capture_status``
  calls over streamable HTTP with the official SDK client, 20 at a time, while a few
  ``wait_for_capture`` calls follow captures that stay In-Queue for a few seconds.

For each process ``/proc/<pid>/status`` is read: ``VmRSS`` once the process answers its
health check (the start-up baseline), ``VmRSS`` sampled every 20 ms during the load (its
maximum), ``VmRSS`` after the load, and ``VmHWM`` (the kernel's own peak of the resident set
over the whole life of the process) at the end of the load; the goal is judged on ``VmHWM``.
MB here is 2^20 bytes. Linux only (``/proc``).

Run it alone with ``python -m bench.memory``. Loopback only; it stops by itself within about
a minute, and both processes are always terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from bench.fixtures import BENCH_KEY, capture_body
from bench.report import Figure, print_figures
from bench.slack_ack import (
    bot_against_slow_upstream,
    collect_answers,
    send_commands,
    server_process,
)
from shared.simulator import Simulator, SimulatorConfig, create_app
from shared.simulator.server import serve_simulator

__all__ = [
    "GOAL_MB",
    "MemoryRun",
    "Rss",
    "main",
    "measure_bot",
    "measure_mcp_server",
    "read_rss",
    "run",
]

NAME = "memory"
GOAL_MB = 120.0
MIB = 2**20
SAMPLE_SECONDS = 0.02
#: the MCP load normally takes about 6 s; a stuck run fails instead of hanging
LOAD_TIMEOUT_SECONDS = 60.0
#: a long random bearer token, for this run only
_MCP_TOKEN = "bench-memory-token-0123456789abcdef"
_UVICORN_RUNNING = re.compile(r"Uvicorn running on (http://\S+) ")


@dataclass(frozen=True, slots=True)
class Rss:
    """One reading of ``/proc/<pid>/status``, in bytes."""

    rss: int
    hwm: int


def read_rss(pid: int) -> Rss:
    """``VmRSS`` (resident now) and ``VmHWM`` (resident at most, so far) of process ``pid``.

    Raises:
        OSError: the process is gone (or this is not Linux).
    """
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                number, unit = value.split()
                assert unit == "kB"
                fields[name] = int(number) * 1024
    return Rss(rss=fields["VmRSS"], hwm=fields["VmHWM"])


@dataclass(frozen=True, slots=True)
class MemoryRun:
    """What one process used (bytes), and how much of its load it completed."""

    process: str
    load: str
    startup: Rss
    peak_sampled_rss: int
    samples: int
    after_load: Rss
    completed: int
    expected: int

    @property
    def peak(self) -> int:
        """The peak resident set: the kernel's high-water mark (never below a sample)."""
        return max(self.after_load.hwm, self.peak_sampled_rss)

    @property
    def passed(self) -> bool:
        """The peak within the goal, and the whole load completed (else the figure is moot)."""
        return self.peak <= GOAL_MB * MIB and self.completed == self.expected


class _Sampler:
    """Samples ``VmRSS`` of a process every ``SAMPLE_SECONDS`` for the ``async with``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        self.peak = max(self.peak, read_rss(self.pid).rss)
        self.samples += 1

    async def _loop(self) -> None:
        with contextlib.suppress(OSError):  # the process ended: nothing more to sample
            while True:
                self._sample()
                await asyncio.sleep(SAMPLE_SECONDS)

    async def __aenter__(self) -> _Sampler:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(OSError):
            self._sample()  # the state at the very end of the load


async def _ready(base_url: str) -> None:
    """Poll ``GET /readyz`` (readiness) until it answers 200 ``{"status": "ready"}`` (10 s)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http, asyncio.timeout(10):
        while True:
            response = await http.get("/readyz")
            if response.status_code == 200 and response.json().get("status") == "ready":
                return
            await asyncio.sleep(0.05)


async def measure_bot(
    *, count: int = 200, rate: float = 50.0, upstream_seconds: float = 5.0
) -> MemoryRun:
    """``python -m bot`` under the Slack ack load of ``bench.slack_ack``."""
    async with bot_against_slow_upstream(count=count, upstream_seconds=upstream_seconds) as bot:
        pid = bot.process.pid
        await _ready(bot.url)
        startup = read_rss(pid)
        async with _Sampler(pid) as sampler:
            results, sent_at = await send_commands(bot, rate=rate)
            answered, _ = await collect_answers(
                bot.fake_slack, count, sent_at, within=upstream_seconds + 30
            )
        after_load = read_rss(pid)  # before the process is stopped on leaving
    acked = sum(1 for _, _, ok in results if ok)
    return MemoryRun(
        process="bot",
        load=f"{count} slash commands at {rate:g}/s, each held {upstream_seconds:g} s upstream",
        startup=startup,
        peak_sampled_rss=sampler.peak,
        samples=sampler.samples,
        after_load=after_load,
        completed=min(acked, answered),
        expected=count,
    )


class _Clock:
    """The simulator's clock, which the benchmark can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def _mcp_simulator(
    calls: int, waits: int, *, in_queue_seconds: float
) -> tuple[Simulator, Starlette, list[str], list[str]]:
    """A simulator with ``calls`` finished captures and ``waits`` still In-Queue for a while."""
    clock = _Clock()
    app = create_app(
        SimulatorConfig(
            api_key=BENCH_KEY,
            rate_limit_calls=max(25, 2 * (calls + waits)),
            processing_seconds=in_queue_seconds,
            clock=clock,
        )
    )
    sim: Simulator = app.state.simulator
    finished = [sim.submit(capture_body(n)) for n in range(calls)]
    clock.offset += in_queue_seconds  # those are final now; the next ones are In-Queue
    queued = [sim.submit(capture_body(calls + n)) for n in range(waits)]
    return sim, app, finished, queued


def _mcp_environment(simulator_url: str, rate_limit_calls: int) -> dict[str, str]:
    prefixes = ("SLACK_", "LSQ_", "MCP_", "REDIS_")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefixes)}
    env.update(
        {
            "MCP_AUTH_TOKENS": _MCP_TOKEN,
            "LSQ_API_KEY": BENCH_KEY,
            "LSQ_ASYNC_BASE_URL": simulator_url,
            "LSQ_RATE_LIMIT_CALLS": str(rate_limit_calls),
            "LSQ_LOG_LEVEL": "INFO",
            "LSQ_LOG_FORMAT": "text",
        }
    )
    return env


async def _bounded(calls: list[Callable[[], Awaitable[bool]]], concurrency: int) -> list[bool]:
    """Run ``calls`` with at most ``concurrency`` at once; whether each succeeded."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[bool]]) -> bool:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


async def measure_mcp_server(
    *, calls: int = 200, concurrency: int = 20, waits: int = 5, in_queue_seconds: float = 3.0
) -> MemoryRun:
    """``python -m mcp_server --transport http`` under ``calls`` status lookups and ``waits``
    waits over streamable HTTP."""
    sim, app, finished, queued = _mcp_simulator(calls, waits, in_queue_seconds=in_queue_seconds)
    options = ["--transport", "http", "--host", "127.0.0.1", "--port", "0"]
    with tempfile.TemporaryDirectory() as cwd:  # no .env file is read
        async with serve_simulator(app) as sim_url:
            env = _mcp_environment(sim_url, sim.config.rate_limit_calls)
            serving = server_process("mcp_server", options, env, _UVICORN_RUNNING, cwd=cwd)
            async with serving as (url, process):
                pid = process.pid
                # the core (HTTP client, budget) opens in the background after start-up
                await _ready(url)
                startup = read_rss(pid)
                headers = {"Authorization": f"Bearer {_MCP_TOKEN}"}
                async with (
                    _Sampler(pid) as sampler,
                    httpx2.AsyncClient(headers=headers, timeout=60) as http,
                    Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
                ):

                    def call(tool: str, arguments: dict[str, Any]) -> Callable[[], Awaitable[bool]]:
                        async def once() -> bool:
                            result = await client.call_tool(tool, arguments)
                            return not result.is_error

                        return once

                    wait_args = [{"request_id": rid, "timeout_seconds": 30.0} for rid in queued]
                    wait_calls = [call("wait_for_capture", args) for args in wait_args]
                    status_calls = [
                        call("get_capture_status", {"request_id": rid}) for rid in finished
                    ]
                    # the waits first, so that they follow their captures during the lookups
                    async with asyncio.timeout(LOAD_TIMEOUT_SECONDS):
                        outcomes = await _bounded([*wait_calls, *status_calls], concurrency)
                after_load = read_rss(pid)  # before the process is stopped on leaving
    return MemoryRun(
        process="mcp server",
        load=f"{calls} get_capture_status ({concurrency} at a time) + {waits} wait_for_capture",
        startup=startup,
        peak_sampled_rss=sampler.peak,
        samples=sampler.samples,
        after_load=after_load,
        completed=sum(outcomes),
        expected=calls + waits,
    )


def _mb(size: int) -> str:
    return f"{size / MIB:.1f} MB"


def figures(result: MemoryRun) -> list[Figure]:
    """The figures of one process."""
    who = result.process
    goal = f"<= {GOAL_MB:g} MB"
    return [
        Figure(NAME, f"{who}: load", result.load),
        Figure(
            NAME,
            f"{who}: load completed",
            f"{result.completed} / {result.expected}",
            "all",
            result.completed == result.expected,
        ),
        Figure(NAME, f"{who}: RSS after start-up (VmRSS)", _mb(result.startup.rss)),
        Figure(
            NAME,
            f"{who}: peak RSS under load (VmRSS, max of {result.samples} samples)",
            _mb(result.peak_sampled_rss),
        ),
        Figure(NAME, f"{who}: RSS after the load (VmRSS)", _mb(result.after_load.rss)),
        Figure(
            NAME,
            f"{who}: peak RSS (VmHWM)",
            _mb(result.peak),
            goal,
            result.peak <= GOAL_MB * MIB,
        ),
    ]


async def run() -> list[Figure]:
    """The benchmark, as figures for ``python -m bench``."""
    bot = await measure_bot()
    mcp_server = await measure_mcp_server()
    return [*figures(bot), *figures(mcp_server)]


def main() -> int:
    """``python -m bench.memory``: run once, print the figures; exit 1 on FAIL."""
    result = asyncio.run(run())
    print_figures(result)
    return 1 if any(f.passed is False for f in result) else 0


if __name__ == "__main__":
    sys.exit(main())
