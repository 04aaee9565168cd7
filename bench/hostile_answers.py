"""Hostile answers: the cost of showing each one, and Slack's acks while they are looked up.

1. **Per answer** (in this process): for every answer of the adversarial corpus
   (:mod:`shared.simulator.hostile`: backslash and quote runs, repeated ``"Attribute":``
   pairs, digit runs, 2 MB and 600-deep bodies, unreadable bodies, control characters), the
   time from the envelope's text to what every surface shows: decode, bound, explain and mask
   (the core), then render the Slack message and the MCP result. Median of several runs per
   answer; the goal is that the worst answer takes at most 50 ms. The terminal card (rich) is
   timed too, as a figure without a goal: it is drawn once, in the CLI's own process.
2. **Slack ack under hostile answers**: a real ``python -m bot`` (HTTP mode) and a real
   ``python -m shared.simulator`` (its own process, so serving 2 MB answers does not slow the
   measuring process) on loopback. Signed ``/capture-status`` commands arrive open loop, each
   for a distinct id whose answer is one of the corpus (so every command decodes, bounds and
   masks a hostile answer); the goal is ack p99 <= 100 ms, every command answered.

Run it alone with ``python -m bench.hostile_answers``. Loopback only; it stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncGenerator, Callable

import httpx
from rich.console import Console

from bench.fixtures import BENCH_KEY
from bench.report import Figure, percentile
from bench.slack_ack import (
    LoadedBot,
    bot_environment,
    bot_process,
    collect_answers,
    send_commands,
)
from bot.blocks import lookup_messages
from bot.kit import RenderContext
from cli.terminal import status_card
from mcp_server.rendering import capture_status_result
from shared.lsq.client import LookupResult
from shared.lsq.models import parse_status
from shared.service.views import lookup_view
from shared.simulator import SAMPLES
from shared.simulator.hostile import HOSTILE_ANSWERS
from shared.simulator.server import serve_simulator
from tests.bot.fake_slack import FakeSlack

__all__ = ["main", "run"]

NAME = "hostile answers"
GOAL_PER_ANSWER_MS = 50.0
GOAL_ACK_P99_MS = 100.0
REPEATS = 7
BASELINE = "ordinary answer (the created sample)"
COMMANDS = 150
RATE = 15.0
_RENDER = RenderContext(checked_at=0.0, upstream="bench", demo=False, nonce="bench")


def _median_ms(work: Callable[[], object]) -> float:
    times: list[float] = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def per_answer() -> dict[str, tuple[float, float]]:
    """Milliseconds per corpus answer: (core + Slack + MCP, terminal card), medians.

    The simulator's ordinary ``created`` sample comes first, as the baseline.
    """
    timings: dict[str, tuple[float, float]] = {}
    baseline = SAMPLES["created"].envelope
    answers = {BASELINE: dict(baseline["TaskStatus"]), **HOSTILE_ANSWERS}
    for name, task in answers.items():
        rid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        text = json.dumps({"RequestId": rid, "TaskStatus": task})

        def surfaces(text: str = text, rid: str = rid) -> None:
            status = parse_status(json.loads(text), request_id=rid)
            view = lookup_view(LookupResult(query=rid, request_id=rid, status=status))
            json.dumps(lookup_messages([view], _RENDER))
            capture_status_result(view).model_dump_json()

        status = parse_status(json.loads(text), request_id=rid)
        view = lookup_view(LookupResult(query=rid, request_id=rid, status=status))

        def card(view: object = view) -> None:
            Console(file=io.StringIO(), width=100).print(status_card(view))  # pyright: ignore[reportArgumentType]

        timings[name] = (_median_ms(surfaces), _median_ms(card))
    return timings


@contextlib.asynccontextmanager
async def _simulator_process() -> AsyncGenerator[str]:
    """``python -m shared.simulator`` on a free loopback port; yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.simulator",
        "--port",
        "0",
        "--api-key",
        BENCH_KEY,
        "--rate-limit-calls",
        "100000",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(30):
            first = (await process.stdout.readline()).decode()
        url = first.rsplit(" at ", 1)[1].strip()
        drain = asyncio.create_task(process.stdout.read())
        try:
            yield url
        finally:
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await process.wait()


async def _serve_hostile(url: str, count: int) -> list[str]:
    """``count`` distinct ids, each answered with one corpus answer (round robin)."""
    answers = list(HOSTILE_ANSWERS.values())
    ids = [str(uuid.uuid4()) for _ in range(count)]
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as http:
        for n, rid in enumerate(ids):
            # json.dumps escapes to ASCII: a lone surrogate travels as "\\ud800"
            body = json.dumps(answers[n % len(answers)])
            response = await http.put(
                f"/_sim/answers/{rid}", content=body, headers={"content-type": "application/json"}
            )
            response.raise_for_status()
    return ids


async def acks_under_hostile_answers(
    *, count: int = COMMANDS, rate: float = RATE
) -> tuple[list[float], int, int, int | None]:
    """Ack latencies (ms), errors, answers delivered and the bot's exit code."""
    fake_slack = FakeSlack()
    async with _simulator_process() as sim_url:
        ids = await _serve_hostile(sim_url, count)
        async with serve_simulator(fake_slack.app) as slack_url:
            fake_slack.url = slack_url
            env = bot_environment(slack_url, sim_url)
            env["LSQ_RATE_LIMIT_CALLS"] = "10000"
            async with bot_process(env) as (bot_url, process):
                bot = LoadedBot(url=bot_url, process=process, fake_slack=fake_slack, ids=ids)
                results, sent_at = await send_commands(bot, rate=rate)
                answered, _ = await collect_answers(fake_slack, count, sent_at, within=60)
                process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    exit_code = await process.wait()
    acks = [ms for ms, _, ok in results if ok]
    return acks, sum(1 for *_, ok in results if not ok), answered, exit_code


async def run() -> list[Figure]:
    """The benchmark, as figures for ``python -m bench``."""
    timings = await asyncio.to_thread(per_answer)
    baseline_ms, _ = timings.pop(BASELINE)
    worst_name, (worst_ms, _) = max(timings.items(), key=lambda item: item[1][0])
    card_name, (_, card_ms) = max(timings.items(), key=lambda item: item[1][1])
    acks, errors, answered, exit_code = await acks_under_hostile_answers()
    p99 = percentile(acks, 99)
    figures = [
        Figure(NAME, "corpus answers", f"{len(timings)}"),
        Figure(
            NAME,
            f"worst answer, core + Slack + MCP (median of {REPEATS}): {worst_name}",
            f"{worst_ms:.1f} ms",
            f"<= {GOAL_PER_ANSWER_MS:g} ms",
            worst_ms <= GOAL_PER_ANSWER_MS,
        ),
        Figure(NAME, f"baseline: {BASELINE}, core + Slack + MCP", f"{baseline_ms:.1f} ms"),
        Figure(NAME, "worst answer / baseline", f"{worst_ms / baseline_ms:.1f}x"),
        Figure(
            NAME,
            "median answer, core + Slack + MCP",
            f"{statistics.median(t for t, _ in timings.values()):.1f} ms",
        ),
        Figure(NAME, f"worst terminal card (rich): {card_name}", f"{card_ms:.1f} ms"),
        Figure(
            NAME,
            f"Slack ack under hostile answers: {COMMANDS} commands at {RATE:g}/s, p50 / p95",
            f"{percentile(acks, 50):.1f} / {percentile(acks, 95):.1f} ms",
        ),
        Figure(
            NAME,
            "Slack ack under hostile answers, p99",
            f"{p99:.1f} ms",
            f"<= {GOAL_ACK_P99_MS:g} ms",
            p99 <= GOAL_ACK_P99_MS and errors == 0,
        ),
        Figure(
            NAME,
            "Slack answers delivered / bot exit code",
            f"{answered} / {COMMANDS}, exit {exit_code}",
            "all, exit 0",
            answered == COMMANDS and exit_code == 0,
        ),
    ]
    return figures


def main() -> int:
    """``python -m bench.hostile_answers``: run once, print the figures; exit 1 on FAIL."""
    figures = asyncio.run(run())
    for figure in figures:
        print(f"{figure.name}: {figure.value}  {figure.goal}  {figure.verdict}".rstrip())
    return 0 if all(f.passed is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
