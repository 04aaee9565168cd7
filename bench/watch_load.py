"""10,000 active watches over 12 hours (simulated): the calls the watcher asks for per hour,
against what the budget leaves it, and what the store holds and how fast it is claimed.

**Scenario (steady state).** 10,000 watches are active all the time: at the start they are
aged evenly over the last 12 h, one new watch arrives every 4.32 s (a person's "watch this":
an interactive lookup first) while the oldest expire, 12 h after they started. None of the
requests becomes final: 80 % stay In-Queue (a backlog that does not drain), 20 % stay in
ERROR while LeadSquared retries them and after its last retry: the costliest watches there
are (nothing ends them early, and nothing is found final to pull the queue's order along).

**Method: the 12 hours are replayed, the last 10 minutes are run.** Running the real watcher
for 12 simulated hours means about 100,000 checks, each with its store transactions: some
minutes of CPU per database, too long for ``make bench``. So:

1. *The 12 h* are replayed by :func:`replay`, which makes the watcher's decisions with the
   watcher's own ``WatchPolicy`` (``next_check_at``, ``routine_floor``, expiry) and its
   rules (the head is the earliest-created active watch; the routine floor is recounted
   every ``metrics_seconds``; queue metrics asked at most every ``metrics_seconds`` after an
   In-Queue check; a last check at expiry), at the production budget (23 calls per 5.15 s,
   16,078 an hour). It counts, per simulated hour, the calls the watch lane asks for and
   the interactive calls of the new watches (a lookup, and the queue metrics at most every
   5 s).
2. *The last 10 minutes* are run for real: the store is filled with the replay's state at
   11 h 50 min (10,000 active watches, and the ones that ended meanwhile, as the store keeps
   them for 7 days), then the real ``Watcher`` steps (claim, check through the client and
   its budget, schedule, deliver the "expired" notices) and ``CaptureService.watch`` takes
   the new watches, against the in-process simulator (every check an HTTP request it answers
   and records), on a virtual clock that jumps to the next due check or arrival when nothing
   is due. The budget runs on real time 1,000x faster (so it never holds the watcher back,
   and the routine floor sees the production pace). This checks the replay (the real
   watcher's calls in those 10 minutes beside the replay's) and measures the store: rows and
   bytes at the end (SQLite: the file with its WAL folded in; PostgreSQL:
   ``pg_total_relation_size`` of both tables) and the real time of each ``claim_due``
   (p50, p99). It runs on a SQLite file and, when a server answers (see
   ``tests/databases.py``), on a PostgreSQL database of its own, dropped after.

**The share.** The watcher must never take more than the budget leaves: per hour, the
budget (16,078 calls) minus the interactive calls of that hour. Every hour is held to that
(goal); the watch lane's calls are also printed as a share of the whole budget (the rest is
what batches can use: they only get what the watch lane leaves).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import math
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, insert, select, text

from bench.accelerated import scaled_client_options
from bench.fixtures import BENCH_KEY, capture_body, postgres_database
from bench.report import Figure, percentile
from shared import defaults
from shared.accounts import Account, Accounts
from shared.guard.lanes import Caller
from shared.lsq.client import CaptureStatusClient
from shared.lsq.models import StatusKind
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import DeliveryResult, WatchNotice
from shared.service.watcher import Watcher
from shared.service.watching import DEFAULT_FAMILY, WatchSettings
from shared.simulator import Simulator, SimulatorConfig, create_app
from shared.store import (
    Claim,
    NewSubscriber,
    WatchLimits,
    WatchStore,
    async_database_url,
    create_store_engine,
    upgrade,
)
from shared.store.schema import SubscriberRow, WatchRow

NAME = "watch_load"
ACTIVE = 10_000
HOURS = 12
SLICE_SECONDS = 600.0
ERROR_SHARE = 0.2
#: the budget's real time runs this much faster than the watches' clock in the real run
BUDGET_SPEED = 1_000.0
START = 1_700_000_000.0
SEED = 12
#: the budget of one account: 23 calls per 5 s, each counted 0.15 s longer
BUDGET_PER_SECOND = defaults.budget_calls() / (
    defaults.RATE_LIMIT_SECONDS + defaults.RATE_WINDOW_GUARD_SECONDS
)
BUDGET_PER_HOUR = BUDGET_PER_SECOND * 3600
_ERROR_TASK: dict[str, Any] = {
    "TaskType": "OpportunityCapture",
    "Status": "ERROR",
    "StatusReason": "Unable to Connect to DB",
    "TaskCurrentStep": "Retry-Queue",
    "TaskLastStep": "In-Process-Queue",
    "RequestBody": None,
    "Message": None,
}


# --- the replay ------------------------------------------------------------------------------


def in_error(n: int) -> bool:
    """Whether watch ``n``'s request stays in ERROR (else In-Queue): the same in every run."""
    return random.Random(f"{SEED}:{n}").random() < ERROR_SHARE


@dataclass(slots=True)
class ReplayWatch:
    """One watch of the replay (times in simulated seconds)."""

    n: int
    created: float
    expires: float
    error: bool
    next_at: float
    ended_at: float | None = None


@dataclass
class Replay:
    """What the replay counted, and its state when the real run takes over."""

    watch_calls: list[int] = field(default_factory=list[int])
    interactive_calls: list[int] = field(default_factory=list[int])
    active: list[int] = field(default_factory=list[int])
    #: the watches (active, and ended) when the real run starts
    snapshot: list[ReplayWatch] = field(default_factory=list[ReplayWatch])
    snapshot_at: float = 0.0
    #: the watch lane's calls in the last ``slice_seconds`` (what the real run redoes)
    slice_calls: int = 0
    slice_seconds: float = SLICE_SECONDS
    seconds: float = 0.0


class _Replayer:
    """The watcher's decisions, without a store or HTTP (see the module doc)."""

    def __init__(self, policy: WatchPolicy) -> None:
        self.policy = policy
        self.watches: dict[int, ReplayWatch] = {}
        self.due: list[tuple[float, int]] = []
        self.by_age: list[int] = []  # active ids, oldest first (ids grow with creation)
        self.gone = 0  # how many of by_age have ended (they end oldest first)
        self.errors: list[float] = []  # created times of ERROR watches, oldest first
        self.errors_gone = 0
        self.queued: list[int] = []  # In-Queue ids, oldest first: the first active one is head
        self.queued_gone = 0
        self.floor = (-math.inf, 0.0)
        self.metrics_at = -math.inf
        self.lookup_metrics_at = -math.inf
        self.watch_calls = 0
        self.interactive_calls = 0

    def routine(self, now: float) -> int:
        """In-Queue watches and ERROR ones past LeadSquared's retries."""
        active = len(self.by_age) - self.gone
        error_active = len(self.errors) - self.errors_gone
        past = bisect.bisect_left(self.errors, now - self.policy.retries_seconds) - self.errors_gone
        return active - error_active + max(past, 0)

    def fresh_floor(self, now: float) -> float:
        return self.policy.routine_floor(self.routine(now), BUDGET_PER_SECOND)

    def cached_floor(self, now: float) -> float:
        if now - self.floor[0] >= self.policy.metrics_seconds:
            self.floor = (now, self.fresh_floor(now))
        return self.floor[1]

    def add(self, watch: ReplayWatch) -> None:
        self.watches[watch.n] = watch
        self.by_age.append(watch.n)
        if watch.error:
            self.errors.append(watch.created)
        else:
            self.queued.append(watch.n)
        heapq.heappush(self.due, (watch.next_at, watch.n))

    def arrive(self, n: int, now: float) -> None:
        """A new watch: its interactive lookup (and queue metrics), then its first check."""
        error = in_error(n)
        self.interactive_calls += 1
        if not error and now - self.lookup_metrics_at >= defaults.METRICS_TTL_SECONDS:
            self.lookup_metrics_at = now
            self.interactive_calls += 1
        expires = now + self.policy.expiry_seconds
        next_at = self.policy.next_check_at(
            StatusKind.ERROR if error else StatusKind.IN_QUEUE,
            now=now,
            created_at=now,
            expires_at=expires,
            error_since=now if error else None,
            routine_floor=0.0 if error else self.fresh_floor(now),
        )
        self.add(ReplayWatch(n, now, expires, error, next_at))

    def check(self, watch: ReplayWatch, now: float) -> None:
        """One check: the call, then the end or the next check."""
        self.watch_calls += 1
        if now >= watch.expires:
            watch.ended_at = now
            while self.gone < len(self.by_age) and self.watches[self.by_age[self.gone]].ended_at:
                ended = self.watches[self.by_age[self.gone]]
                self.gone += 1
                if ended.error:
                    self.errors_gone += 1
            while (
                self.queued_gone < len(self.queued)
                and self.watches[self.queued[self.queued_gone]].ended_at
            ):
                self.queued_gone += 1
            return
        if watch.error:
            status, error_since, head = StatusKind.ERROR, watch.created, False
        else:
            status, error_since = StatusKind.IN_QUEUE, None
            head = self.queued[self.queued_gone] == watch.n
            if now - self.metrics_at >= self.policy.metrics_seconds:
                self.metrics_at = now
                self.watch_calls += 1
        watch.next_at = self.policy.next_check_at(
            status,
            now=now,
            created_at=watch.created,
            expires_at=watch.expires,
            error_since=error_since,
            head=head,
            routine_floor=self.cached_floor(now),
        )
        heapq.heappush(self.due, (watch.next_at, watch.n))


def steady_state(policy: WatchPolicy, rng: random.Random, now: float) -> list[ReplayWatch]:
    """10,000 watches aged evenly over 12 h, each with its next check where the watcher's
    schedule put it (the oldest In-Queue one, the head, is due now)."""
    expiry = policy.expiry_seconds
    ages = sorted((rng.uniform(0, expiry) for _ in range(ACTIVE)), reverse=True)
    errors = [in_error(n) for n in range(ACTIVE)]
    routine = sum(
        1
        for age, error in zip(ages, errors, strict=True)
        if not error or age > policy.retries_seconds
    )
    floor = policy.routine_floor(routine, BUDGET_PER_SECOND)
    watches: list[ReplayWatch] = []
    head_set = False
    for n, (age, error) in enumerate(zip(ages, errors, strict=True)):
        created = now - age
        if error:
            next_at = policy.next_check_at(
                StatusKind.ERROR,
                now=now,
                created_at=created,
                expires_at=created + expiry,
                error_since=created,
                routine_floor=floor,
            )
        elif not head_set:  # the oldest In-Queue watch: the head
            next_at, head_set = now, True
        else:
            next_at = created + max(1, math.ceil(age / floor)) * floor
        watches.append(
            ReplayWatch(n, created, created + expiry, error, min(next_at, created + expiry))
        )
    return watches


def replay(*, hours: float = HOURS, slice_seconds: float = SLICE_SECONDS) -> Replay:
    """Replay ``hours`` of steady-state watching (see the module doc)."""
    started = time.perf_counter()
    policy = WatchPolicy()
    replayer = _Replayer(policy)
    for watch in steady_state(policy, random.Random(SEED), START):
        replayer.add(watch)
    result = Replay(slice_seconds=slice_seconds)
    end = START + hours * 3600
    result.snapshot_at = end - slice_seconds
    gap = policy.expiry_seconds / ACTIVE
    next_arrival = START + gap
    next_hour = START + 3600
    n = ACTIVE
    last_watch = last_interactive = 0
    slice_start_calls: int | None = None
    while True:
        due_at = replayer.due[0][0] if replayer.due else math.inf
        snapshot_at = result.snapshot_at if slice_start_calls is None else math.inf
        now = min(due_at, next_arrival, next_hour, snapshot_at, end)
        if now == snapshot_at:
            slice_start_calls = replayer.watch_calls
            result.snapshot = [
                ReplayWatch(w.n, w.created, w.expires, w.error, w.next_at, w.ended_at)
                for w in replayer.watches.values()
            ]
            continue
        if now >= end:
            break
        if now == next_hour:
            result.watch_calls.append(replayer.watch_calls - last_watch)
            result.interactive_calls.append(replayer.interactive_calls - last_interactive)
            last_watch, last_interactive = replayer.watch_calls, replayer.interactive_calls
            result.active.append(len(replayer.by_age) - replayer.gone)
            next_hour += 3600
        elif now == next_arrival:
            replayer.arrive(n, now)
            n += 1
            next_arrival += gap
        else:
            _, wid = heapq.heappop(replayer.due)
            watch = replayer.watches[wid]
            if watch.ended_at is None and watch.next_at == due_at:
                replayer.check(watch, now)
    result.watch_calls.append(replayer.watch_calls - last_watch)
    result.interactive_calls.append(replayer.interactive_calls - last_interactive)
    result.active.append(len(replayer.by_age) - replayer.gone)
    result.slice_calls = replayer.watch_calls - (slice_start_calls or 0)
    result.seconds = time.perf_counter() - started
    return result


# --- the real run of the last minutes --------------------------------------------------------


class VirtualClock:
    """Seconds that move only when the benchmark moves them."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TimedStore(WatchStore):
    """The store, timing each claim (real seconds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claim_seconds: list[float] = []

    async def claim_due(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        for_kinds: Sequence[str] | None = None,
    ) -> list[Claim]:
        """``WatchStore.claim_due``, timed."""
        started = time.perf_counter()
        claims = await super().claim_due(
            owner, limit=limit, lease_seconds=lease_seconds, for_kinds=for_kinds
        )
        self.claim_seconds.append(time.perf_counter() - started)
        return claims


@dataclass
class CountingNotifier:
    """Counts the notices by how the watch ended."""

    told: Counter[str] = field(default_factory=Counter[str])

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        """Count it; always ``sent``."""
        self.told[notice.end] += 1
        return DeliveryResult("sent")


@dataclass
class RealRun:
    """What the real run of the last minutes saw, on one database."""

    backend: str
    watch_calls: int = 0
    arrivals: int = 0
    rows: dict[str, int] = field(default_factory=dict[str, int])
    subscribers: int = 0
    size_bytes: int = 0
    claim_seconds: list[float] = field(default_factory=list[float])
    told: Counter[str] = field(default_factory=Counter[str])
    checks: int = 0
    real_seconds: float = 0.0


def _subscriber(n: int) -> NewSubscriber:
    user = f"slack:T{n % 50}:U{n}"
    return NewSubscriber(
        kind="bench", principal=user, scope=f"slack:T{n % 50}", target={"n": n}, target_key=user
    )


def _request(sim: Simulator, n: int, error: bool) -> str:
    if error:
        rid = str(uuid.uuid4())
        sim.put_answer(rid, _ERROR_TASK)
        return rid
    return sim.submit(capture_body(n))


async def _fill(store: WatchStore, sim: Simulator, snapshot: list[ReplayWatch]) -> None:
    """The store as the replay left it: its active watches and the ended ones."""
    watches: list[dict[str, Any]] = []
    subscribers: list[dict[str, Any]] = []
    for watch in snapshot:
        ended = watch.ended_at is not None
        subscriber = _subscriber(watch.n)
        watches.append(
            {
                "id": watch.n + 1,
                "account": "default",
                "family": DEFAULT_FAMILY,
                # only the active ones need an answer from the simulator
                "request_id": str(uuid.uuid4()) if ended else _request(sim, watch.n, watch.error),
                "state": "expired" if ended else "active",
                "created_at": watch.created,
                "expires_at": watch.expires,
                "next_check_at": watch.next_at,
                "checks": 0,
                "last_status": "ERROR" if watch.error else "In-Queue",
                "last_checked_at": watch.ended_at or watch.created,
                "error_since": watch.created if watch.error else None,
                "failures": 0,
                "ended_at": watch.ended_at,
                "lease_token": 0,
            }
        )
        subscribers.append(
            {
                "watch_id": watch.n + 1,
                "kind": subscriber.kind,
                "principal": subscriber.principal,
                "scope": subscriber.scope,
                "target": subscriber.target_json(),
                "target_key": subscriber.target_key,
                "state": "sent" if ended else "waiting",
                "created_at": watch.created,
                "attempts": 1 if ended else 0,
                "delivered_at": watch.ended_at,
                "lease_token": 0,
            }
        )
    async with store.engine.begin() as connection:
        for start in range(0, len(watches), 5_000):
            await connection.execute(insert(WatchRow), watches[start : start + 5_000])
            await connection.execute(insert(SubscriberRow), subscribers[start : start + 5_000])
        if store.engine.dialect.name == "postgresql":  # ids were given: move the sequences on
            top = max(w.n for w in snapshot) + 1
            for table in ("watches", "watch_subscribers"):
                await connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {top})")
                )


async def _postgres_size(store: WatchStore) -> int:
    async with store.engine.connect() as connection:
        size = await connection.scalar(
            text(
                "SELECT pg_total_relation_size('watches') + "
                "pg_total_relation_size('watch_subscribers')"
            )
        )
    return int(size or 0)


def _sqlite_size(path: Path) -> int:
    """The file's size once its write-ahead log is folded in (the store is closed)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def real_run(database_url: str, backend: str, result: Replay) -> RealRun:
    """Run the real watcher over the replay's last minutes on ``database_url``."""
    run = RealRun(backend)
    policy = WatchPolicy()
    clock = VirtualClock(result.snapshot_at)
    app = create_app(
        SimulatorConfig(
            api_key=BENCH_KEY,
            clock=clock,
            rate_limit_calls=1_000_000_000,  # a counter here: the budget paces, not the window
            processing_seconds=10 * 365 * 86400.0,  # In-Queue for good
        )
    )
    sim: Simulator = app.state.simulator
    url = async_database_url(database_url)
    store = TimedStore(create_store_engine(url), clock=clock)
    client = CaptureStatusClient(
        # the guard is scaled too: the budget's pace is the production one, 1,000 times
        # faster; lookups keep a real deadline (the event loop is busy, not LeadSquared)
        scaled_client_options(
            "http://sim",
            BUDGET_SPEED,
            budget_guard_seconds=defaults.RATE_WINDOW_GUARD_SECONDS / BUDGET_SPEED,
            deadline_seconds=defaults.LOOKUP_DEADLINE_SECONDS,
        ),
        SecretStr(BENCH_KEY),
        transport=in_process_transport(app),
    )
    account = Account(name="default", base_url="http://sim", api_key=SecretStr(BENCH_KEY))
    service = CaptureService(
        Accounts(by_name={"default": account}, default="default"),
        {"default": client},
        store=store,
        watch_settings=WatchSettings(policy=policy, limits=WatchLimits()),
        clock=clock,
        speed=BUDGET_SPEED,
    )
    notifier = CountingNotifier()
    watcher = Watcher(
        service, store, notifiers={"bench": notifier}, clock=clock, speed=BUDGET_SPEED
    )
    started = time.perf_counter()
    try:
        await upgrade(store.engine)
        await _fill(store, sim, result.snapshot)
        end = clock() + result.slice_seconds
        gap = policy.expiry_seconds / ACTIVE
        n = max(w.n for w in result.snapshot) + 1
        next_arrival = START + gap * (n - ACTIVE + 1)
        granted = client.budget.granted_by_lane
        while clock() < end:
            if await watcher.step():
                continue
            due = await store.next_due_at()
            clock.now = max(clock(), min(due if due is not None else end, next_arrival, end))
            while next_arrival <= clock() and next_arrival < end:
                rid = _request(sim, n, in_error(n))
                caller = Caller.interactive(_subscriber(n).principal)
                await service.watch(rid, subscriber=_subscriber(n), caller=caller)
                n += 1
                run.arrivals += 1
                next_arrival += gap
        run.watch_calls = granted["watch"]
        async with store.engine.connect() as connection:
            by_state = await connection.execute(
                select(WatchRow.state, func.count()).group_by(WatchRow.state)
            )
            run.rows = {str(state): int(count) for state, count in by_state.all()}
            run.subscribers = int(
                await connection.scalar(select(func.count()).select_from(SubscriberRow)) or 0
            )
        if store.engine.dialect.name == "postgresql":
            run.size_bytes = await _postgres_size(store)
        run.claim_seconds = store.claim_seconds
        run.told = notifier.told
        run.checks = watcher.stats.checks
    finally:
        await client.aclose()
        await store.aclose()
    if store.engine.dialect.name == "sqlite" and url.database:
        run.size_bytes = _sqlite_size(Path(url.database))
    run.real_seconds = time.perf_counter() - started
    return run


# --- figures ---------------------------------------------------------------------------------


def replay_figures(result: Replay) -> list[Figure]:
    """The 12 hours' calls against the share."""
    label = f"{ACTIVE:,} watches x {len(result.watch_calls)} h"
    shares = [BUDGET_PER_HOUR - i for i in result.interactive_calls]
    calls = result.watch_calls
    worst = max(range(len(calls)), key=lambda h: calls[h] / shares[h])
    within = all(c <= s for c, s in zip(calls, shares, strict=True))
    return [
        Figure(
            NAME,
            f"{label}: watch-lane calls per hour, worst hour / its share (budget "
            f"{BUDGET_PER_HOUR:,.0f} - that hour's interactive calls)",
            f"{calls[worst]:,} / {shares[worst]:,.0f} (hour {worst + 1}; "
            f"mean {sum(calls) / len(calls):,.0f} an hour)",
            "<= share, every hour",
            within,
        ),
        Figure(
            NAME,
            f"{label}: watch-lane calls per hour / the whole budget (the rest: people, batches)",
            f"{min(calls) / BUDGET_PER_HOUR:.0%} to {max(calls) / BUDGET_PER_HOUR:.0%}",
        ),
        Figure(
            NAME,
            f"{label}: active watches (each hour), interactive calls an hour (new watches)",
            f"{min(result.active):,}-{max(result.active):,}; "
            f"{min(result.interactive_calls):,}-{max(result.interactive_calls):,}",
        ),
    ]


def real_figures(run: RealRun, result: Replay) -> list[Figure]:
    """The real run's figures beside the replay's."""
    label = f"last {result.slice_seconds / 60:.0f} min run for real, {run.backend}"
    rows = sum(run.rows.values())
    gap = abs(run.watch_calls - result.slice_calls) / max(result.slice_calls, 1)
    return [
        Figure(
            NAME,
            f"{label}: watch-lane calls, real watcher / replay",
            f"{run.watch_calls:,} / {result.slice_calls:,} ({gap:.0%} apart; "
            f"{run.checks:,} checks, {run.arrivals} new watches, "
            f"{sum(run.told.values()):,} notices)",
            "within 10 %",
            gap <= 0.10,
        ),
        Figure(
            NAME,
            f"{label}: store rows at the end (watches by state; subscribers)",
            f"{rows:,} ({', '.join(f'{n:,} {s}' for s, n in sorted(run.rows.items()))}); "
            f"{run.subscribers:,}",
        ),
        Figure(
            NAME,
            f"{label}: store size at the end",
            f"{run.size_bytes / 1024 / 1024:.1f} MB "
            f"({run.size_bytes / max(rows, 1):,.0f} bytes per watch)",
        ),
        Figure(
            NAME,
            f"{label}: claim_due query time, p50 / p99 ({len(run.claim_seconds):,} claims)",
            f"{percentile(run.claim_seconds, 50) * 1000:.1f} ms / "
            f"{percentile(run.claim_seconds, 99) * 1000:.1f} ms",
        ),
        Figure(NAME, f"{label}: run time", f"{run.real_seconds:.0f} s real"),
    ]


async def run() -> list[Figure]:
    """Every figure of this benchmark."""
    result = replay()
    figures = replay_figures(result)
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'watches.db'}"
        figures += real_figures(await real_run(sqlite_url, "SQLite", result), result)
    async with postgres_database() as url:
        if url is None:
            figures.append(Figure(NAME, "PostgreSQL", "no server answered: not measured"))
        else:
            figures += real_figures(await real_run(url, "PostgreSQL", result), result)
    return figures


def main() -> int:
    """``python -m bench.watch_load``: print the figures."""
    from bench.report import print_figures

    figures = asyncio.run(run())
    print_figures(figures)
    return 1 if any(f.passed is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
