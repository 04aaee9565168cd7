"""200 watched requests that finish at random times within 10 minutes: how soon people are
told, what it costs upstream, and whether people looking things up meanwhile still come first.

The simulator (on a loopback socket, at LeadSquared's limit of 25 calls per 5 s) serves one
account's submissions **in order** at a random pace (``QueueModel``: 24 per minute on
average, exponential service times, seeded). 200 captures arrive at random moments of the
first two minutes and each is watched right after it was submitted, through the real
``CaptureService.watch`` (an interactive lookup first, then a watch in a SQLite store) and
the real ``Watcher`` (claims, checks on the budget's watch lane, schedule, delivery to a
recording notifier). Meanwhile a person looks one id up every 3 s (interactive lane; ids
never looked up before, so each lookup is an upstream call).

Everything runs on an accelerated clock (``bench/accelerated.py``, 10x): the run takes about
a minute; figures are in simulated seconds.

Figures:

- **notification delay**: from the moment the simulator shows a request final to the
  moment the notifier got its notice; goals p50 <= 10 s, p95 <= 30 s;
- **upstream calls**: the watcher's calls (every status call of a watched id after the
  watch's own first lookup, and every metrics call) against a naive poller that checks each
  request every 15 s from the moment it is watched until it sees it final, counted exactly
  from the finish times; goal <= 25 %;
- **HTTP 429** answers seen by the simulator; goal 0;
- **interactive lookups meanwhile**: p99 of the whole lookup (budget wait included, so the
  budget wait is less); goal <= one window (5 s).

Two variants are printed in one line each, without goals: a queue that does **not** serve in
order (each request finishes at an independent random moment within 8 minutes of arriving:
the schedule leans on the queue's order, and this shows how it degrades without it), and the
same 200 captures arriving within one minute instead of two (their watches' own lookups then
take most of the budget for that minute: people first, the watch lane waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.accelerated import AcceleratedClock, RecordingNotifier, watch_service
from bench.fixtures import BENCH_KEY, capture_body
from bench.report import Figure, percentile
from shared import defaults
from shared.errors import CaptureStatusError
from shared.guard.lanes import Caller
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watcher import WatchCheck, Watcher, WatcherStats
from shared.simulator import QueueModel, Simulator, SimulatorConfig, create_app
from shared.simulator.server import serve_simulator
from shared.store import NewSubscriber, WatchStore, async_database_url, create_store_engine, upgrade

NAME = "watches"
SPEED = 10.0
WATCHED = 200
#: the captures arrive at random moments of the first two minutes (each is submitted, then
#: looked up once by its watch: 400 calls that LeadSquared's 25 per 5 s could not take in
#: much less than 80 s)
ARRIVAL_SECONDS = 120.0
#: the same captures within one minute (printed without goals: the watches' own lookups
#: then take most of the budget for that minute, and people go first)
BURST_ARRIVAL_SECONDS = 60.0
#: the queue's average processing rate: 200 take about 8 min 20 s after the first arrives
QUEUE_RATE_PER_MINUTE = 24.0
#: the not-in-order queue: each request finishes within this long after it arrived (so
#: within 10 minutes of the first arrival)
UNORDERED_SPREAD_SECONDS = 480.0
SEED = 11
NAIVE_PERIOD = 15.0
PERSON_INTERVAL = 3.0
#: how long after the last request became final the run waits for late notices
TAIL_SECONDS = 300.0
WINDOW = float(defaults.RATE_LIMIT_SECONDS)
BUDGET = defaults.budget_calls()
GOAL_P50 = 10.0
GOAL_P95 = 30.0
GOAL_CALL_SHARE = 0.25
USERS = 10


@dataclass
class WatchRun:
    """What one run saw (times in simulated seconds)."""

    label: str
    watched_at: dict[str, float] = field(default_factory=dict[str, float])
    final_at: dict[str, float] = field(default_factory=dict[str, float])
    delivered: dict[str, list[float]] = field(default_factory=dict[str, list[float]])
    final_at_once: int = 0
    watch_errors: Counter[str] = field(default_factory=Counter[str])
    status_calls: int = 0
    metrics_calls: int = 0
    throttled: int = 0
    busiest: int = 0
    person: list[float] = field(default_factory=list[float])
    person_at: list[float] = field(default_factory=list[float])
    person_errors: Counter[str] = field(default_factory=Counter[str])
    stats: WatcherStats = field(default_factory=WatcherStats)
    #: calls whose request left too long after the budget granted it (they took two slots)
    late_sends: int = 0
    #: why checks failed, by error code
    check_errors: Counter[str] = field(default_factory=Counter[str])
    real_seconds: float = 0.0
    span: tuple[float, float] = (0.0, 0.0)

    @property
    def delays(self) -> list[float]:
        """Each delivered request's delay from final to notice."""
        return [
            times[0] - self.final_at[rid]
            for rid, times in self.delivered.items()
            if rid in self.final_at and times
        ]

    @property
    def watcher_calls(self) -> int:
        """Upstream calls after each watch's own first lookup (metrics calls included)."""
        return self.status_calls - len(self.watched_at) + self.metrics_calls

    @property
    def naive_calls(self) -> int:
        """A poller checking each request every 15 s until it sees it final."""
        return sum(
            max(1, math.ceil((self.final_at[rid] - at) / NAIVE_PERIOD))
            for rid, at in self.watched_at.items()
        )

    @property
    def duplicates(self) -> int:
        """Notices beyond the first of any request."""
        return sum(len(times) - 1 for times in self.delivered.values())


def _final_answer() -> dict[str, Any]:
    """A final TaskStatus for the person's lookups (ids no one looked up before)."""
    return {
        "TaskType": "OpportunityCapture",
        "Status": "Success",
        "StatusReason": "Request was successfully completed",
        "TaskCurrentStep": None,
        "TaskLastStep": "In-Process-Queue",
        "RequestBody": None,
        "Message": None,
    }


@contextlib.asynccontextmanager
async def _sqlite_store(clock: AcceleratedClock) -> AsyncGenerator[WatchStore]:
    with tempfile.TemporaryDirectory() as folder:
        url = async_database_url(f"sqlite:///{Path(folder) / 'watches.db'}")
        store = WatchStore(create_store_engine(url), clock=clock)
        try:
            await upgrade(store.engine)
            yield store
        finally:
            await store.aclose()


async def _until(clock: AcceleratedClock, moment: float) -> None:
    delay = clock.real_seconds(moment - clock())
    if delay > 0:
        await asyncio.sleep(delay)  # the scenario's own schedule


async def measure(
    queue: QueueModel,
    label: str,
    *,
    watched: int = WATCHED,
    speed: float = SPEED,
    arrival_seconds: float = ARRIVAL_SECONDS,
    tail_seconds: float = TAIL_SECONDS,
    policy: WatchPolicy | None = None,
) -> WatchRun:
    """Submit and watch ``watched`` captures on ``queue``; wait until all are told."""
    clock = AcceleratedClock.starting_now(speed)
    app = create_app(SimulatorConfig(api_key=BENCH_KEY, queue=queue, clock=clock))
    sim: Simulator = app.state.simulator
    rng = random.Random(queue.seed)
    start = clock() + 1.0
    arrivals = sorted(start + rng.uniform(0, arrival_seconds) for _ in range(watched))
    run = WatchRun(label)
    person_ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(2_000)]
    for rid in person_ids:
        sim.put_answer(rid, _final_answer())
    real_start = time.perf_counter()
    async with _sqlite_store(clock) as store, serve_simulator(app) as url:
        service = watch_service(url, BENCH_KEY, store=store, clock=clock, policy=policy)
        notifier = RecordingNotifier(clock)
        run.delivered = notifier.delivered

        async def on_check(check: WatchCheck) -> None:
            if check.error is not None:
                run.check_errors[check.error.code] += 1

        watcher = Watcher(
            service,
            store,
            notifiers={"bench": notifier},
            clock=clock,
            speed=speed,
            on_check=on_check,
        )
        working = asyncio.create_task(watcher.run())
        done = asyncio.Event()
        try:
            person = asyncio.create_task(_person(service, clock, person_ids, run, done))
            await asyncio.gather(*await _submit_and_watch(service, sim, clock, arrivals, run))
            run.final_at = {
                rid: at for rid, at in sim.finish_times().items() if rid in run.watched_at
            }
            last = max(run.final_at.values(), default=clock())
            await notifier.wait_for(run.watched_at, until=last + tail_seconds)
            done.set()
            await person
        finally:
            working.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await working
            run.late_sends = service.client().budget.late_sends
            await service.client().aclose()
        run.stats = watcher.stats
    run.real_seconds = time.perf_counter() - real_start
    finals = sorted(run.final_at.values())
    run.span = (finals[0] - start, finals[-1] - start) if finals else (0.0, 0.0)
    _count_calls(sim, run)
    return run


async def _submit_and_watch(
    service: CaptureService,
    sim: Simulator,
    clock: AcceleratedClock,
    arrivals: Sequence[float],
    run: WatchRun,
) -> list[asyncio.Task[None]]:
    """Submit one capture at each arrival and watch it at once (each watch a task)."""
    tasks: list[asyncio.Task[None]] = []

    async def watch(rid: str, n: int, at: float) -> None:
        user = f"slack:T1:U{n % USERS}"
        subscriber = NewSubscriber(
            kind="bench", principal=user, scope="slack:T1", target={"n": n}, target_key=user
        )
        try:
            view = await service.watch(rid, subscriber=subscriber, caller=Caller.interactive(user))
        except CaptureStatusError as error:
            run.watch_errors[error.code] += 1
            return
        if view.watching:
            run.watched_at[rid] = at
        elif view.view.status is not None and view.view.status.is_final:
            run.final_at_once += 1
        else:
            run.watch_errors[view.view.error.code if view.view.error else "unknown"] += 1

    for n, moment in enumerate(arrivals):
        await _until(clock, moment)
        rid = sim.submit(capture_body(n))
        tasks.append(asyncio.create_task(watch(rid, n, clock())))
    return tasks


async def _person(
    service: CaptureService,
    clock: AcceleratedClock,
    ids: Sequence[str],
    run: WatchRun,
    done: asyncio.Event,
) -> None:
    """One lookup of a fresh id every ``PERSON_INTERVAL`` simulated seconds until ``done``."""
    caller = Caller.interactive("slack:T1:U99")
    tasks: list[asyncio.Task[None]] = []

    async def one(rid: str) -> None:
        started = clock()
        (view,) = await service.look_up([rid], caller=caller)
        run.person.append(clock() - started)
        run.person_at.append(started)
        if view.error is not None:
            run.person_errors[view.error.code] += 1

    begin = clock()
    for n, rid in enumerate(ids):
        if done.is_set():
            break
        await _until(clock, begin + n * PERSON_INTERVAL)
        tasks.append(asyncio.create_task(one(rid)))
    await asyncio.gather(*tasks)


def _count_calls(sim: Simulator, run: WatchRun) -> None:
    watched = set(run.watched_at)
    config = sim.config
    for call in sim.calls:
        if call.path in config.status_paths and call.request_id in watched:
            run.status_calls += 1
        elif call.path == config.metrics_path:
            run.metrics_calls += 1
    run.throttled = sim.count(status_code=429)
    run.busiest = sim.max_calls_in_any_window(WINDOW)


def figures(run: WatchRun, *, goals: bool = True) -> list[Figure]:
    """The figures of one run; without ``goals`` none has a verdict."""
    delays = run.delays
    p50, p95 = percentile(delays, 50), percentile(delays, 95)
    told = len(delays)
    watched = len(run.watched_at)
    share = run.watcher_calls / run.naive_calls if run.naive_calls else math.inf
    person_p99 = percentile(run.person, 99)

    def verdict(ok: bool) -> bool | None:
        return ok if goals else None

    label = run.label
    return [
        Figure(
            NAME,
            f"{label}: requests watched / told (final at once, errors)",
            f"{watched} / {told} ({run.final_at_once}, {sum(run.watch_errors.values())}); "
            f"final {run.span[0]:.0f}-{run.span[1]:.0f} s after the first arrival",
            "all told" if goals else "",
            verdict(told == watched and watched > 0 and not run.watch_errors),
        ),
        Figure(
            NAME,
            f"{label}: notification delay after final, p50",
            f"{p50:.1f} s",
            f"<= {GOAL_P50:g} s" if goals else "",
            verdict(p50 <= GOAL_P50),
        ),
        Figure(
            NAME,
            f"{label}: notification delay after final, p95 (max)",
            f"{p95:.1f} s ({max(delays, default=math.nan):.1f} s)",
            f"<= {GOAL_P95:g} s" if goals else "",
            verdict(p95 <= GOAL_P95),
        ),
        Figure(
            NAME,
            f"{label}: duplicate notices",
            str(run.duplicates),
            "0" if goals else "",
            verdict(run.duplicates == 0),
        ),
        Figure(
            NAME,
            f"{label}: watcher's upstream calls / naive poller every {NAIVE_PERIOD:g} s",
            f"{run.watcher_calls} / {run.naive_calls} = {share:.1%} "
            f"({run.status_calls - watched} checks, {run.metrics_calls} metrics)",
            f"<= {GOAL_CALL_SHARE:.0%}" if goals else "",
            verdict(share <= GOAL_CALL_SHARE),
        ),
        Figure(
            NAME,
            f"{label}: HTTP 429 answers (most calls in any 5-s window)",
            f"{run.throttled} ({run.busiest})",
            f"0 (<= {BUDGET})" if goals else "",
            verdict(run.throttled == 0 and run.busiest <= BUDGET),
        ),
        Figure(
            NAME,
            f"{label}: interactive lookup p99 meanwhile ({len(run.person)} lookups, "
            "budget wait included)",
            f"{person_p99 * 1000:.0f} ms (p50 {percentile(run.person, 50) * 1000:.0f} ms)",
            f"<= {WINDOW * 1000:.0f} ms" if goals else "",
            verdict(person_p99 <= WINDOW and not run.person_errors),
        ),
        Figure(
            NAME,
            f"{label}: run time at {SPEED:g}x",
            f"{run.real_seconds:.0f} s real; {run.stats.checks} checks, "
            f"{run.stats.check_failures} failed{_codes(run.check_errors)}; "
            f"{run.late_sends} late sends",
        ),
    ]


def _codes(counts: Counter[str]) -> str:
    return f" ({', '.join(f'{n} {code}' for code, n in counts.most_common())})" if counts else ""


def summary(run: WatchRun) -> Figure:
    """One line, no goal: how a variant of the scenario fares."""
    delays = run.delays
    share = run.watcher_calls / run.naive_calls if run.naive_calls else math.inf
    return Figure(
        NAME,
        f"{run.label} (no goals): told; delay p50 / p95; calls / naive; 429; person p99",
        f"{len(delays)}/{len(run.watched_at)}; {percentile(delays, 50):.1f} s / "
        f"{percentile(delays, 95):.1f} s; {share:.1%}; {run.throttled}; "
        f"{percentile(run.person, 99) * 1000:.0f} ms; "
        f"{run.stats.check_failures} failed checks{_codes(run.check_errors)}",
    )


async def run() -> list[Figure]:
    """Every figure of this benchmark."""
    in_order = QueueModel(rate_per_minute=QUEUE_RATE_PER_MINUTE, seed=SEED)
    ordered = await measure(in_order, "queue in order")
    unordered = await measure(
        QueueModel(in_order=False, spread_seconds=UNORDERED_SPREAD_SECONDS, seed=SEED),
        "queue NOT in order",
    )
    burst = await measure(
        in_order, "queue in order, captures within 1 min", arrival_seconds=BURST_ARRIVAL_SECONDS
    )
    return [*figures(ordered), summary(unordered), summary(burst)]


def main() -> int:
    """``python -m bench.watches``: print the figures."""
    from bench.report import print_figures

    result = asyncio.run(run())
    print_figures(result)
    return 1 if any(f.passed is False for f in result) else 0


if __name__ == "__main__":
    sys.exit(main())
