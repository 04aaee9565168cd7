"""Slack acknowledgement latency while every lookup is slow upstream.

``python -m bot`` runs as its own process in HTTP mode on loopback, exactly as deployed.
Signed ``/capture-status`` commands arrive at a fixed rate, open loop (each is sent at its
scheduled time whatever happened to the others), while the simulator holds every status call
for several seconds (a latency fault). Slack gives up on an acknowledgement after 3 s; the
goal here is p99 <= 100 ms. Answers are collected at a local response_url receiver, so the
run also shows that every acknowledged command was answered.

Every command asks for its own finished capture, so every lookup makes its own upstream call
and waits the full delay: up to ``count`` lookups are in flight in the bot at once. The
account's rate limit is raised for this run (in the simulator and in the bot's budget alike)
so that the budget, which other benchmarks measure, is not what the answers wait for.

Run it alone with ``python -m bench.slack_ack`` (``--help`` for the knobs). Loopback only;
it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.fixtures import BENCH_KEY, simulator_with_captures
from bench.report import Figure, percentile
from shared.simulator import Fault, FaultKind
from shared.simulator.server import serve_simulator
from tests.bot.fake_slack import SIGNING_SECRET, FakeSlack, command_body, signed_headers

__all__ = [
    "AckRun",
    "LoadedBot",
    "bot_against_slow_upstream",
    "bot_environment",
    "bot_process",
    "collect_answers",
    "main",
    "measure",
    "run",
    "send_commands",
    "server_process",
]

NAME = "slack_ack"
GOAL_P99_MS = 100.0
ROOT = Path(__file__).resolve().parents[1]
_BOT_TOKEN = "xoxb-bench-token"
_LISTENING = re.compile(r"listening on (http://\S+)/slack/events")


@dataclass(frozen=True, slots=True)
class AckRun:
    """What one run measured (latencies in milliseconds)."""

    count: int
    rate: float
    upstream_seconds: float
    ack_ms: tuple[float, ...]
    errors: int
    max_send_lag_ms: float
    answered: int
    answer_seconds_p50: float
    bot_exit_code: int | None

    def ack(self, pct: float) -> float:
        """The ``pct``-th percentile of the acknowledgement latency, in ms."""
        return percentile(self.ack_ms, pct)

    @property
    def passed(self) -> bool:
        """p99 within the goal, no errors, every command answered, a clean bot exit."""
        return (
            self.errors == 0
            and len(self.ack_ms) == self.count
            and self.ack(99) <= GOAL_P99_MS
            and self.answered == self.count
            and self.bot_exit_code == 0
        )


def bot_environment(slack_url: str, simulator_url: str) -> dict[str, str]:
    prefixes = ("SLACK_", "LSQ_", "MCP_", "REDIS_")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(prefixes)}
    env.update(
        {
            "SLACK_BOT_TOKEN": _BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack_url,
            "LSQ_API_KEY": BENCH_KEY,
            "LSQ_ASYNC_BASE_URL": simulator_url,
            "LSQ_LOG_LEVEL": "INFO",
        }
    )
    return env


@contextlib.asynccontextmanager
async def server_process(
    module: str,
    options: Sequence[str],
    env: dict[str, str],
    listening: re.Pattern[str],
    *,
    cwd: str | Path = ROOT,
) -> AsyncGenerator[tuple[str, asyncio.subprocess.Process]]:
    """``python -m <module> <options>``; yields its base URL once it listens.

    The URL is the first group of ``listening`` in the first log line (stderr) that matches.
    On leaving, the process gets SIGTERM (and SIGKILL if it has not exited 60 s later).
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *options,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = process.stderr
    url: str | None = None
    try:
        async with asyncio.timeout(30):
            while url is None:
                line = (await stderr.readline()).decode(errors="replace")
                if not line:
                    raise RuntimeError(f"python -m {module} exited before it listened")
                found = listening.search(line)
                url = found.group(1) if found else None
    except BaseException:
        process.kill()
        await process.wait()
        raise
    # keep reading its log so a full pipe never blocks it
    drain = asyncio.create_task(_discard(stderr))
    try:
        yield url, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(60):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)


def bot_process(
    env: dict[str, str],
) -> contextlib.AbstractAsyncContextManager[tuple[str, asyncio.subprocess.Process]]:
    """``python -m bot --port 0``; yields its base URL once it listens."""
    return server_process("bot", ["--host", "127.0.0.1", "--port", "0"], env, _LISTENING)


async def _discard(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


@dataclass(frozen=True, slots=True)
class LoadedBot:
    """A running ``python -m bot`` (HTTP mode) wired to a local fake Slack and a slow simulator.

    Attributes:
        url: the bot's base URL.
        process: the bot process.
        fake_slack: the local Slack (Web API and response_url hooks).
        ids: one finished capture per command to send, each looked up upstream on its own.
    """

    url: str
    process: asyncio.subprocess.Process
    fake_slack: FakeSlack
    ids: list[str]


@contextlib.asynccontextmanager
async def bot_against_slow_upstream(
    *, count: int, upstream_seconds: float
) -> AsyncGenerator[LoadedBot]:
    """``python -m bot`` against a simulator holding every lookup ``upstream_seconds``.

    The simulator holds ``count`` finished captures; the account's rate limit is raised (in
    the simulator and in the bot's budget alike) so that the budget is not what lookups wait
    for. Everything stops on leaving (the bot gets SIGTERM if still running).
    """
    fake_slack = FakeSlack()
    limit = max(25, 2 * count)
    sim_app, sim, ids = simulator_with_captures(count, rate_limit_calls=limit)
    sim.set_fault(Fault(kind=FaultKind.LATENCY, seconds=upstream_seconds))
    async with serve_simulator(fake_slack.app) as slack_url, serve_simulator(sim_app) as sim_url:
        fake_slack.url = slack_url
        env = bot_environment(slack_url, sim_url)
        env["LSQ_RATE_LIMIT_CALLS"] = str(limit)
        async with bot_process(env) as (bot_url, process):
            yield LoadedBot(url=bot_url, process=process, fake_slack=fake_slack, ids=ids)


async def send_commands(
    bot: LoadedBot, *, rate: float
) -> tuple[list[tuple[float, float, bool]], dict[int, float]]:
    """One signed command per capture in ``bot.ids``, at ``rate`` per second, open loop.

    Returns (ack ms, send lag ms, acknowledged with 200) per command, in order, and when each
    command was sent (``time.monotonic()``, by command number).
    """
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=bot.url, timeout=10.0, limits=limits) as http:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2
        sent_at: dict[int, float] = {}

        async def send(n: int) -> tuple[float, float, bool]:
            planned = start + n / rate
            await asyncio.sleep(max(0.0, planned - loop.time()))
            hook = bot.fake_slack.hook_url(f"c{n}")
            body = command_body(bot.ids[n], response_url=hook)
            headers = {
                "content-type": "application/x-www-form-urlencoded",
                **signed_headers(body),
            }
            began = loop.time()
            sent_at[n] = time.monotonic()
            try:
                response = await http.post("/slack/events", content=body, headers=headers)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            return (loop.time() - began) * 1000, (began - planned) * 1000, ok

        results = await asyncio.gather(*(send(n) for n in range(len(bot.ids))))
    return results, sent_at


async def measure(*, count: int = 200, rate: float = 50.0, upstream_seconds: float = 5.0) -> AckRun:
    """Send ``count`` signed commands at ``rate`` per second; measure each acknowledgement."""
    async with bot_against_slow_upstream(count=count, upstream_seconds=upstream_seconds) as bot:
        results, sent_at = await send_commands(bot, rate=rate)
        answered, answer_seconds = await collect_answers(
            bot.fake_slack, count, sent_at, within=upstream_seconds + 30
        )
        bot.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            exit_code = await bot.process.wait()
    ok_acks = tuple(ms for ms, _, ok in results if ok)
    return AckRun(
        count=count,
        rate=rate,
        upstream_seconds=upstream_seconds,
        ack_ms=ok_acks,
        errors=sum(1 for _, _, ok in results if not ok),
        max_send_lag_ms=max((lag for _, lag, _ in results), default=0.0),
        answered=answered,
        answer_seconds_p50=percentile(answer_seconds, 50),
        bot_exit_code=exit_code,
    )


async def collect_answers(
    fake_slack: FakeSlack, count: int, sent_at: dict[int, float], *, within: float
) -> tuple[int, list[float]]:
    """How many of ``count`` commands were answered at their response_url within ``within``
    seconds, and how long after its command each answer came (seconds)."""
    try:
        for n in range(count):
            await fake_slack.wait_for(f"/hooks/c{n}", within=within)
    except TimeoutError:
        pass
    seconds: list[float] = []
    for n in range(count):
        posts = fake_slack.posts(f"/hooks/c{n}")
        if posts and n in sent_at:
            seconds.append(posts[0].at - sent_at[n])
    return len(seconds), seconds


def report(result: AckRun) -> str:
    """The figures, one per line, and the verdict."""
    verdict = "PASS" if result.passed else "FAIL"
    return "\n".join(
        [
            f"slack_ack: {result.count} signed /capture-status commands at {result.rate:g}/s "
            f"(open loop), HTTP mode on loopback, every lookup held {result.upstream_seconds:g} s "
            "upstream",
            f"  ack latency  p50 {result.ack(50):.1f} ms  p95 {result.ack(95):.1f} ms  "
            f"p99 {result.ack(99):.1f} ms  max {max(result.ack_ms, default=float('nan')):.1f} ms",
            f"  count {len(result.ack_ms)}  errors {result.errors}  "
            f"max send lag {result.max_send_lag_ms:.1f} ms",
            f"  answers delivered {result.answered}/{result.count}  "
            f"(p50 {result.answer_seconds_p50:.2f} s after the command)  "
            f"bot exit code {result.bot_exit_code}",
            f"  goal: p99 <= {GOAL_P99_MS:g} ms, no errors, every command answered -> {verdict}",
        ]
    )


async def run() -> list[Figure]:
    """The benchmark, as figures for ``python -m bench``."""
    result = await measure()
    goal = f"<= {GOAL_P99_MS:g} ms"
    return [
        Figure(NAME, "ack p50", f"{result.ack(50):.1f} ms"),
        Figure(NAME, "ack p95", f"{result.ack(95):.1f} ms"),
        Figure(NAME, "ack p99", f"{result.ack(99):.1f} ms", goal, result.ack(99) <= GOAL_P99_MS),
        Figure(NAME, "ack max", f"{max(result.ack_ms, default=float('nan')):.1f} ms"),
        Figure(
            NAME,
            "acks / errors",
            f"{len(result.ack_ms)} / {result.errors}",
            f"{result.count} / 0",
            len(result.ack_ms) == result.count and result.errors == 0,
        ),
        Figure(
            NAME,
            "answers delivered",
            f"{result.answered} / {result.count}",
            "all",
            result.answered == result.count,
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.slack_ack``: run once, print the figures; exit 1 on FAIL."""
    parser = argparse.ArgumentParser(prog="python -m bench.slack_ack", description=__doc__)
    parser.add_argument("--count", type=int, default=200, help="commands to send (200)")
    parser.add_argument("--rate", type=float, default=50.0, help="commands per second (50)")
    parser.add_argument(
        "--upstream-seconds", type=float, default=5.0, help="latency of every lookup (5)"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(
        measure(count=args.count, rate=args.rate, upstream_seconds=args.upstream_seconds)
    )
    print(report(result), flush=True)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
