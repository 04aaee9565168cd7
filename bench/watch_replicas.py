"""Two watcher replicas on one PostgreSQL, one of them killed (SIGKILL) every minute: no watch
lost and no notice sent twice over 500 watches.

- **PostgreSQL**: a database of this run's own on the server the tests use (see
  ``tests/databases.py``), migrated once (the one-shot step), dropped after.
- **The simulator** serves in this process on 127.0.0.1: one account whose queue serves its
  submissions in order at 45 a minute on average (random service times, seeded), 10 %
  through ERROR first (answered ERROR until LeadSquared's first retry, 30 s later), at
  LeadSquared's limit of 25 calls per 5 s.
- **500 watches**: captures arrive at random moments of the first 5 minutes; each is watched
  at once through ``CaptureService.watch`` in this process (a front door: the interactive
  lookup, then the store).
- **Two replicas**, each a real process (``python -m bench.watch_replica``): the core's
  ``Watcher`` with the default ``WatchPolicy`` (leases of 60 s) and a notifier that appends
  each notice to a file of that process and fsyncs it before the watcher records it as sent.
  The bot's Slack notifier is not in this run: its delivery path is covered by the bot's own
  tests; the store, the leases and the watcher, which decide whether a notice goes out once,
  are the same.
- **Every simulated minute** one replica (in turn) is killed with SIGKILL, at whatever it is
  doing (claiming, checking, delivering, idle), and started again at once.
- The front door and the two replicas share the account's budget of 23 calls per window
  without Redis: 11 for the front door, 6 for each replica.

Everything runs on a clock 10x faster than real time (``bench/accelerated.py``); the run ends
once every notice came, or 5 simulated minutes after the last request became final.

Figures: watches lost (a request final, its notice never recorded; goal 0), duplicate
notices (recorded more than once for one subscriber; goal 0), the kills, and how late the
notices came (no goal: every kill leaves its claimed watches until the lease lapses).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.accelerated import AcceleratedClock, watch_service
from bench.fixtures import BENCH_KEY, capture_body, postgres_database
from bench.report import Figure, percentile
from bench.watch_replica import KIND, read_deliveries
from shared.errors import CaptureStatusError
from shared.guard.lanes import Caller
from shared.service.capture_service import CaptureService
from shared.simulator import QueueModel, Simulator, SimulatorConfig, create_app
from shared.simulator.server import serve_simulator
from shared.store import NewSubscriber, WatchStore, async_database_url, create_store_engine, upgrade

NAME = "watch_replicas"
ROOT = Path(__file__).resolve().parents[1]
SPEED = 10.0
WATCHES = 500
ARRIVAL_SECONDS = 300.0
QUEUE_RATE_PER_MINUTE = 45.0
ERROR_SHARE = 0.1
KILL_EVERY = 60.0
TAIL_SECONDS = 300.0
SEED = 21
FRONT_DOOR_BUDGET = 11
REPLICA_BUDGET = 6


@dataclass
class ReplicaSlot:
    """One of the two replicas: its current process, and every file it ever wrote."""

    index: int
    process: asyncio.subprocess.Process | None = None
    reader: asyncio.Task[None] | None = None
    files: list[Path] = field(default_factory=list[Path])
    starts: int = 0


@dataclass
class ReplicasRun:
    """What the run saw (times in simulated seconds)."""

    #: how many watches the run was to make
    expected: int = WATCHES
    watched: dict[str, float] = field(default_factory=dict[str, float])
    final_at: dict[str, float] = field(default_factory=dict[str, float])
    deliveries: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    kills: int = 0
    watch_errors: Counter[str] = field(default_factory=Counter[str])
    store_states: Counter[str] = field(default_factory=Counter[str])
    subscriber_states: Counter[str] = field(default_factory=Counter[str])
    throttled: int = 0
    real_seconds: float = 0.0

    @property
    def told(self) -> dict[str, list[float]]:
        """Each request's notices (times)."""
        told: dict[str, list[float]] = {}
        for delivery in self.deliveries:
            told.setdefault(delivery["request_id"], []).append(delivery["at"])
        return told

    @property
    def lost(self) -> list[str]:
        """Watched requests that became final and whose notice never came."""
        told = self.told
        return [rid for rid in self.watched if rid not in told]

    @property
    def duplicates(self) -> int:
        """Notices beyond the first for one subscriber."""
        per_subscriber = Counter(d["subscriber"] for d in self.deliveries)
        return sum(n - 1 for n in per_subscriber.values())


class Replicas:
    """Starts, kills and restarts the replica processes; follows their events."""

    def __init__(self, arguments: list[str], folder: Path) -> None:
        self.arguments = arguments
        self.folder = folder
        self.slots = [ReplicaSlot(0), ReplicaSlot(1)]
        self.delivered: set[str] = set()
        self.news = asyncio.Event()

    async def start(self, slot: ReplicaSlot) -> None:
        """Start ``slot``'s replica (a new process, a new deliveries file)."""
        path = self.folder / f"replica{slot.index}-{slot.starts}.jsonl"
        slot.starts += 1
        slot.files.append(path)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "DATABASE_"))}
        slot.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.watch_replica",
            *self.arguments,
            "--deliveries",
            str(path),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        slot.reader = asyncio.create_task(self._read(slot.process))

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            with contextlib.suppress(ValueError):
                event: dict[str, Any] = json.loads(line)
                if event.get("event") == "delivered":
                    self.delivered.add(str(event["request_id"]))
                    self.news.set()

    async def kill(self, slot: ReplicaSlot) -> None:
        """SIGKILL ``slot``'s replica, wherever it is."""
        process = slot.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGKILL)
        await process.wait()
        if slot.reader is not None:
            await slot.reader

    async def stop(self) -> None:
        """Stop every replica (gently: they give their leases up)."""
        for slot in self.slots:
            if slot.process is not None and slot.process.returncode is None:
                slot.process.terminate()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await slot.process.wait()
                if slot.process.returncode is None:
                    slot.process.kill()
                    await slot.process.wait()
            if slot.reader is not None:
                await slot.reader

    async def until_told(self, ids: Sequence[str], clock: AcceleratedClock, until: float) -> None:
        """Wait until every id in ``ids`` was told (as the replicas report), or ``until``."""
        while not all(rid in self.delivered for rid in ids):
            left = clock.real_seconds(until - clock())
            if left <= 0:
                return
            self.news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.news.wait(), timeout=left)


async def _watch_arrivals(
    service: CaptureService,
    sim: Simulator,
    clock: AcceleratedClock,
    arrivals: Sequence[float],
    run: ReplicasRun,
) -> None:
    async def watch(n: int) -> None:
        user = f"slack:T1:U{n}"
        subscriber = NewSubscriber(kind=KIND, principal=user, scope="slack:T1", target_key=user)
        for attempt in range(3):  # a capture final before its lookup needs no watch: another
            rid = sim.submit(capture_body(n * 10 + attempt))
            try:
                view = await service.watch(
                    rid, subscriber=subscriber, caller=Caller.interactive(user)
                )
            except CaptureStatusError as error:
                run.watch_errors[error.code] += 1
                return
            if view.watching:
                run.watched[rid] = clock()
                return
            run.watch_errors["final at once" if view.view.found else "not watched"] += 1

    tasks: list[asyncio.Task[None]] = []
    for n, moment in enumerate(arrivals):
        delay = clock.real_seconds(moment - clock())
        if delay > 0:
            await asyncio.sleep(delay)  # the scenario's own schedule
        tasks.append(asyncio.create_task(watch(n)))
    await asyncio.gather(*tasks)


async def _kill_every(
    seconds: float,
    replicas: Replicas,
    clock: AcceleratedClock,
    run: ReplicasRun,
    stop: asyncio.Event,
) -> None:
    turn = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=clock.real_seconds(seconds))
        if stop.is_set():
            return
        slot = replicas.slots[turn % 2]
        await replicas.kill(slot)
        run.kills += 1
        await replicas.start(slot)
        turn += 1


async def _store_states(url: str, run: ReplicasRun) -> None:
    from sqlalchemy import func, select

    from shared.store.schema import SubscriberRow, WatchRow

    store = WatchStore(create_store_engine(async_database_url(url)))
    try:
        async with store.engine.connect() as connection:
            for column, target in (
                (WatchRow.state, run.store_states),
                (SubscriberRow.state, run.subscriber_states),
            ):
                rows = await connection.execute(select(column, func.count()).group_by(column))
                target.update({str(state): int(count) for state, count in rows.all()})
    finally:
        await store.aclose()


async def measure(
    url: str,
    *,
    watches: int = WATCHES,
    arrival_seconds: float = ARRIVAL_SECONDS,
    kill_every: float = KILL_EVERY,
) -> ReplicasRun:
    """Run the scenario on the PostgreSQL database at ``url`` (already created, empty)."""
    run = ReplicasRun(expected=watches)
    started = time.perf_counter()
    clock = AcceleratedClock.starting_now(SPEED)
    queue = QueueModel(rate_per_minute=QUEUE_RATE_PER_MINUTE, error_share=ERROR_SHARE, seed=SEED)
    app = create_app(SimulatorConfig(api_key=BENCH_KEY, queue=queue, clock=clock))
    sim: Simulator = app.state.simulator
    rng = random.Random(SEED)
    store = WatchStore(create_store_engine(async_database_url(url)), clock=clock)
    await upgrade(store.engine)  # the one-shot migration; replicas never migrate
    with tempfile.TemporaryDirectory() as folder:
        async with serve_simulator(app) as sim_url:
            replicas = Replicas(
                [
                    "--database-url",
                    url,
                    "--simulator-url",
                    sim_url,
                    "--api-key",
                    BENCH_KEY,
                    "--speed",
                    str(SPEED),
                    "--origin",
                    repr(clock.origin),
                    "--real-origin",
                    repr(clock.real_origin),
                    "--budget-calls",
                    str(REPLICA_BUDGET),
                ],
                Path(folder),
            )
            service = watch_service(
                sim_url, BENCH_KEY, store=store, clock=clock, budget_calls=FRONT_DOOR_BUDGET
            )
            stop = asyncio.Event()
            killer: asyncio.Task[None] | None = None
            try:
                for slot in replicas.slots:
                    await replicas.start(slot)
                start = clock() + 1.0
                arrivals = sorted(start + rng.uniform(0, arrival_seconds) for _ in range(watches))
                killer = asyncio.create_task(_kill_every(kill_every, replicas, clock, run, stop))
                await _watch_arrivals(service, sim, clock, arrivals, run)
                finish = sim.finish_times()
                run.final_at = {rid: finish[rid] for rid in run.watched}
                last = max(run.final_at.values(), default=clock())
                await replicas.until_told(list(run.watched), clock, last + TAIL_SECONDS)
            finally:
                stop.set()
                if killer is not None:
                    await killer
                await replicas.stop()
                await service.client().aclose()
                await store.aclose()
            run.throttled = sim.count(status_code=429)
        run.deliveries = read_deliveries(path for slot in replicas.slots for path in slot.files)
    await _store_states(url, run)
    run.real_seconds = time.perf_counter() - started
    return run


def figures(run: ReplicasRun) -> list[Figure]:
    """The figures of one run."""
    told = run.told
    delays = [min(times) - run.final_at[rid] for rid, times in told.items() if rid in run.final_at]
    label = f"{run.expected} watches, 2 replicas, one SIGKILLed every minute"
    return [
        Figure(
            NAME,
            f"{label}: watches lost (final, never told)",
            f"{len(run.lost)} of {len(run.watched)} watched"
            + (f" (and {dict(run.watch_errors)}: answered at once)" if run.watch_errors else ""),
            "0",
            not run.lost and len(run.watched) == run.expected,
        ),
        Figure(
            NAME,
            f"{label}: duplicate notices",
            f"{run.duplicates} ({len(run.deliveries)} notices recorded)",
            "0",
            run.duplicates == 0,
        ),
        Figure(
            NAME,
            f"{label}: kills (SIGKILL) and restarts",
            f"{run.kills}",
        ),
        Figure(
            NAME,
            f"{label}: notice after final, p50 / p95 / max",
            f"{percentile(delays, 50):.1f} s / {percentile(delays, 95):.1f} s / "
            f"{max(delays, default=float('nan')):.1f} s",
        ),
        Figure(
            NAME,
            f"{label}: store at the end (watches; subscribers), HTTP 429",
            f"{dict(run.store_states)}; {dict(run.subscriber_states)}; {run.throttled}",
        ),
        Figure(NAME, f"{label}: run time at {SPEED:g}x", f"{run.real_seconds:.0f} s real"),
    ]


async def run() -> list[Figure]:
    """Every figure of this benchmark (none without a PostgreSQL server)."""
    async with postgres_database() as url:
        if url is None:
            return [
                Figure(NAME, "PostgreSQL", "no server answered: not measured", "a server", False)
            ]
        return figures(await measure(url))


def main() -> int:
    """``python -m bench.watch_replicas``: print the figures."""
    from bench.report import print_figures

    result = asyncio.run(run())
    print_figures(result)
    return 1 if any(f.passed is False for f in result) else 0


if __name__ == "__main__":
    sys.exit(main())
