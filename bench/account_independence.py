"""Account independence: does one account's burst slow down another account's lookups?

Question: one deployment serves several LeadSquared accounts through one ``CaptureService``,
one ``CaptureStatusClient`` (budget, cooldown, breaker, cache) per account. When account A
asks for far more than its budget, do people looking up on account B still get answers at
once, or does B end up waiting behind A's budget?

Method: the simulator serves both accounts on a loopback socket, each with its own
25-per-5-s window and its own captures (all finished), and referees both. The service
runs with the default client options (23 calls per 5 s per account). First 40 fresh lookups of
one id each on B alone, one started every 0.3 s (at most ~18 calls in any 5.15-s window,
well under B's 23, so B never needs to wait for its own budget); then A gets a burst of 150
distinct fresh lookups at once (three look-ups of 50, the service's cap per call: about
seven windows of A's budget, ~32 s), and the same 40 B lookups run, at the same pace, while
A's burst is in flight. Each B latency is the whole ``service.look_up`` call.

Goals:

- B's p99 while A bursts <= 250 ms. An absolute bound rather than a ratio to B alone: the
  client, A's burst and the simulator all share this one event loop (and a 2-core machine
  shared with other work), so at each of A's window turns 23 of A's calls are sent and
  answered together, and a B lookup started then queues some milliseconds for the CPU, not
  for a budget. B's first lookup, started with A's burst, always does: measured ~35-70 ms
  against ~10 ms alone on an idle machine (a ratio goal of 1.5 would fail on CPU alone),
  ~100 ms with two busy processes competing for the cores. 250 ms leaves room for a busy
  shared machine and is still far below what sharing a budget would cost: B would queue
  behind A's waiting lookups (FIFO), at least until A's next window turn (up to 5.15 s)
  and behind A's whole burst about 30 s. With 40 lookups, p99 is the slowest one. The ratio
  is printed for the record.
- B's budget never waited (``RateBudget.waits`` stays 0) and its cooldown never started,
  while A's budget did wait (the burst really was over A's budget).
- Every B lookup finished while A's burst was still running (B was measured under load).
- Zero HTTP 429 for either account, and never more than the budget (23) in any 5-s window
  of either account (the simulator's own log).
- All of A's burst answered, within the run's bound (the benchmark stops by itself within
  about 60 s; A's burst is given at most 45 s).

A's connection errors and retries are printed without a goal: between its window turns A's
pooled connections sit idle about 5 s, the keep-alive limit of both httpx and uvicorn, so
now and then (more often on a busy machine) a request meets a connection the server is
closing; the client retries it behind A's own budget.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from bench.fixtures import capture_body
from bench.report import Figure, percentile
from shared import defaults
from shared.accounts import Account, Accounts
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.service.capture_service import CaptureService
from shared.service.views import LookupView
from shared.simulator import (
    DEFAULT_ACCOUNT,
    SimulatedAccount,
    Simulator,
    SimulatorConfig,
    create_app,
)
from shared.simulator.server import serve_simulator

NAME = "account independence"
#: the bursting account (the simulator's first one) and the interactive one
ACCOUNT_A, ACCOUNT_B = DEFAULT_ACCOUNT, "us"
KEY_A, KEY_B = "bench-key-a", "bench-key-b"
BURST = 150
B_LOOKUPS = 40
PACE_SECONDS = 0.3
#: the most A's burst is waited for, from its start
BURST_BOUND_SECONDS = 45.0
GOAL_P99_MS = 250.0


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one run saw."""

    #: B's lookup latencies, alone and while A bursts (ms)
    alone_ms: list[float]
    loaded_ms: list[float]
    #: B lookups that found their capture, alone and under load
    b_found_alone: int
    b_found_loaded: int
    #: B lookups (under load) that finished while A's burst was still running
    b_during_burst: int
    burst: int
    burst_answered: int
    #: from A's burst start until its last answer (or the bound)
    burst_seconds: float
    burst_finished: bool
    #: A's lookups that failed, by error code (``unfinished``: cut off by the bound)
    burst_failures: dict[str, int]
    a_waits: int
    #: A's calls cut by a connection error, and A's retries
    a_connection_errors: int
    a_retries: int
    b_waits: int
    b_cooldowns: int
    budget_calls: int
    window_seconds: int
    throttled: dict[str, int]
    busiest: dict[str, int]
    wall_seconds: float


async def _paced(
    service: CaptureService, ids: Sequence[str], pace: float, burst: asyncio.Task[object] | None
) -> tuple[list[float], int, int]:
    """One-id lookups on B started every ``pace`` s: latencies, found, finished during ``burst``."""
    latencies: list[float] = []
    found = during = 0
    start = time.perf_counter()
    for n, request_id in enumerate(ids):
        delay = start + n * pace - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        began = time.perf_counter()
        views = await service.look_up([request_id], account=ACCOUNT_B, fresh=True)
        latencies.append((time.perf_counter() - began) * 1000)
        found += sum(view.found for view in views)
        during += burst is not None and not burst.done()
    return latencies, found, during


async def _burst(service: CaptureService, ids: Sequence[str], chunk: int) -> list[LookupView]:
    """A's burst: every id at once, in look-ups of at most ``chunk`` ids (the service's cap)."""
    chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
    parts = await asyncio.gather(
        *(service.look_up(part, account=ACCOUNT_A, fresh=True) for part in chunks)
    )
    return [view for part in parts for view in part]


async def measure(
    *,
    burst: int = BURST,
    b_lookups: int = B_LOOKUPS,
    pace_seconds: float = PACE_SECONDS,
    limit_calls: int = defaults.RATE_LIMIT_CALLS,
    window_seconds: int = defaults.RATE_LIMIT_SECONDS,
    bound_seconds: float = BURST_BOUND_SECONDS,
) -> Measurement:
    """Run B alone, then B while A bursts, and return what was seen.

    The defaults are the benchmark; tests scale the window down (the budget is always the
    limit minus the default headroom).
    """
    wall_started = time.perf_counter()
    config = SimulatorConfig(
        api_key=KEY_A,
        accounts=(SimulatedAccount(name=ACCOUNT_B, api_key=KEY_B),),
        rate_limit_calls=limit_calls,
        rate_limit_seconds=window_seconds,
        processing_seconds=0,
    )
    app = create_app(config)
    sim: Simulator = app.state.simulator
    # one more id each for the warm-up lookup
    a_ids = [sim.submit(capture_body(n), account=ACCOUNT_A) for n in range(burst + 1)]
    b_ids = [sim.submit(capture_body(n), account=ACCOUNT_B) for n in range(b_lookups + 1)]
    budget_calls = defaults.budget_calls(limit_calls)
    async with serve_simulator(app) as url:
        options = ClientOptions(
            base_url=url,
            budget_calls=budget_calls,
            budget_seconds=window_seconds,
            limit_calls=limit_calls,
        )
        accounts = Accounts(
            by_name={
                ACCOUNT_A: Account(name=ACCOUNT_A, base_url=url, api_key=SecretStr(KEY_A)),
                ACCOUNT_B: Account(name=ACCOUNT_B, base_url=url, api_key=SecretStr(KEY_B)),
            },
            default=ACCOUNT_A,
        )
        async with (
            CaptureStatusClient(options, SecretStr(KEY_A)) as client_a,
            CaptureStatusClient(options, SecretStr(KEY_B)) as client_b,
        ):
            service = CaptureService(accounts, {ACCOUNT_A: client_a, ACCOUNT_B: client_b})
            # warm both connection pools and code paths
            await service.look_up([a_ids[0]], account=ACCOUNT_A, fresh=True)
            await service.look_up([b_ids[0]], account=ACCOUNT_B, fresh=True)
            found_before = client_a.stats.lookups_by_outcome["found"]

            alone_ms, found_alone, _ = await _paced(service, b_ids[1:], pace_seconds, None)

            burst_started = time.perf_counter()
            burst_task: asyncio.Task[list[LookupView]] = asyncio.create_task(
                _burst(service, a_ids[1:], options.max_ids_per_call)
            )
            burst_ended: list[float] = []
            burst_task.add_done_callback(lambda _: burst_ended.append(time.perf_counter()))
            await asyncio.sleep(0)  # A's burst is under way when B's first lookup starts
            loaded_ms, found_loaded, during = await _paced(
                service, b_ids[1:], pace_seconds, burst_task
            )
            left = bound_seconds - (time.perf_counter() - burst_started)
            done, _ = await asyncio.wait({burst_task}, timeout=max(left, 0.0))
            finished = burst_task in done
            if not finished:
                burst_task.cancel()
                await asyncio.gather(burst_task, return_exceptions=True)
            burst_seconds = (burst_ended[0] if burst_ended else time.perf_counter()) - (
                burst_started
            )
            answered = client_a.stats.lookups_by_outcome["found"] - found_before
            failures: Counter[str] = Counter()
            if finished:
                for view in burst_task.result():
                    if view.error is not None:
                        failures[view.error.code] += 1
            else:
                failures["unfinished"] = burst - answered
            a_waits, b_waits = client_a.budget.waits, client_b.budget.waits
            a_connection_errors = client_a.stats.upstream_by_outcome["connection"]
            a_retries = client_a.stats.retries
            b_cooldowns = client_b.cooldown.started_total
    return Measurement(
        alone_ms=alone_ms,
        loaded_ms=loaded_ms,
        b_found_alone=found_alone,
        b_found_loaded=found_loaded,
        b_during_burst=during,
        burst=burst,
        burst_answered=answered,
        burst_seconds=burst_seconds,
        burst_finished=finished,
        burst_failures=dict(failures),
        a_waits=a_waits,
        a_connection_errors=a_connection_errors,
        a_retries=a_retries,
        b_waits=b_waits,
        b_cooldowns=b_cooldowns,
        budget_calls=budget_calls,
        window_seconds=window_seconds,
        throttled={
            name: sim.count(status_code=429, account=name) for name in (ACCOUNT_A, ACCOUNT_B)
        },
        busiest={
            name: sim.max_calls_in_any_window(window_seconds, account=name)
            for name in (ACCOUNT_A, ACCOUNT_B)
        },
        wall_seconds=time.perf_counter() - wall_started,
    )


def figures(m: Measurement) -> list[Figure]:
    """The figures of one run, with their goals."""
    alone_p50, alone_p99 = percentile(m.alone_ms, 50), percentile(m.alone_ms, 99)
    loaded_p50, loaded_p99 = percentile(m.loaded_ms, 50), percentile(m.loaded_ms, 99)
    b_count = len(m.alone_ms)
    window = f"{m.window_seconds}-s window"
    return [
        Figure(NAME, "B alone: lookup p50 / p99", f"{alone_p50:.1f} ms / {alone_p99:.1f} ms"),
        Figure(
            NAME,
            f"B while A bursts {m.burst}: lookup p50 / p99",
            f"{loaded_p50:.1f} ms / {loaded_p99:.1f} ms",
            f"p99 <= {GOAL_P99_MS:g} ms",
            loaded_p99 <= GOAL_P99_MS,
        ),
        Figure(NAME, "B p99 under A's burst / B p99 alone", f"{loaded_p99 / alone_p99:.2f}x"),
        Figure(
            NAME,
            "B lookups answered (alone / under load)",
            f"{m.b_found_alone}/{b_count} / {m.b_found_loaded}/{b_count}",
            "all",
            m.b_found_alone == b_count and m.b_found_loaded == b_count,
        ),
        Figure(
            NAME,
            "B lookups done while A's burst ran",
            f"{m.b_during_burst}/{b_count}",
            "all",
            m.b_during_burst == b_count,
        ),
        Figure(
            NAME,
            "budget waits: B / A",
            f"{m.b_waits} / {m.a_waits}",
            "B 0, A > 0",
            m.b_waits == 0 and m.a_waits > 0,
        ),
        Figure(NAME, "B cooldowns started", str(m.b_cooldowns), "0", m.b_cooldowns == 0),
        Figure(
            NAME,
            "HTTP 429 seen by the simulator: A / B",
            f"{m.throttled[ACCOUNT_A]} / {m.throttled[ACCOUNT_B]}",
            "0 / 0",
            not any(m.throttled.values()),
        ),
        Figure(
            NAME,
            f"most calls in any {window}: A / B",
            f"{m.busiest[ACCOUNT_A]} / {m.busiest[ACCOUNT_B]}",
            f"<= budget {m.budget_calls} each",
            max(m.busiest.values()) <= m.budget_calls,
        ),
        Figure(
            NAME,
            "A's burst answered",
            f"{m.burst_answered}/{m.burst} in {m.burst_seconds:.1f} s"
            + "".join(f", {count} {code}" for code, count in sorted(m.burst_failures.items())),
            "all",
            m.burst_finished and m.burst_answered == m.burst,
        ),
        Figure(
            NAME,
            "A: connection errors / retries",
            f"{m.a_connection_errors} / {m.a_retries}",
        ),
        Figure(NAME, "wall time", f"{m.wall_seconds:.1f} s"),
    ]


async def run() -> list[Figure]:
    """Measure and return the figures."""
    return figures(await measure())


if __name__ == "__main__":
    from bench.report import print_figures

    print_figures(asyncio.run(run()))
