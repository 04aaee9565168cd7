"""Routine checks (In-Queue, not the head of the queue) stay within a share of the budget, and
every check the watcher decides to make reaches LeadSquared (no refresh floor)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from shared.lsq.client import CaptureStatusClient
from shared.lsq.models import QueueMetrics, StatusKind
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import DeliveryResult, WatchNotice
from shared.service.watcher import Watcher
from shared.service.watching import WatchSettings
from shared.simulator import Simulator, SimulatorConfig, create_app
from shared.store import NewSubscriber, WatchKey, WatchRecord, WatchStore
from tests.conftest import SIM_KEY, FakeClock, fast_options
from tests.databases import open_test_store

from .test_watching import PERSON, capture_body

POLICY = WatchPolicy()
NOW = 10_000.0
FAR = NOW + 12 * 3600
#: a request stays In-Queue this long in these tests
PROCESSING = 3600.0


def _pause(**kw: Any) -> float:
    at = POLICY.next_check_at(
        kw.pop("status", StatusKind.IN_QUEUE), now=NOW, created_at=NOW, expires_at=FAR, **kw
    )
    return at - NOW


def test_n_routine_watches_share_their_part_of_the_budget() -> None:
    assert POLICY.routine_floor(0, 4.0) == 0
    assert POLICY.routine_floor(100, 0) == 0
    # 100 watches, 4 calls per second: a quarter of it is one call a second, 100 s apart each
    assert POLICY.routine_floor(100, 4.0) == pytest.approx(100.0)
    assert WatchPolicy(routine_share=0.5).routine_floor(100, 4.0) == pytest.approx(50.0)


def test_the_floor_lengthens_routine_checks_only() -> None:
    assert _pause(routine_floor=200.0) == 200.0
    assert _pause(routine_floor=1.0) == POLICY.min_seconds  # below the usual pause: no effect
    assert _pause(head=True, routine_floor=200.0) == POLICY.head_seconds
    assert _pause(status=StatusKind.ERROR, error_since=NOW, routine_floor=9_999.0) < 60


def test_an_error_past_leadsquared_s_last_retry_is_checked_like_a_routine_one() -> None:
    past = NOW - POLICY.retries_seconds - 10
    assert _pause(status=StatusKind.ERROR, error_since=past) == POLICY.max_seconds
    assert _pause(status=StatusKind.ERROR, error_since=past, routine_floor=5_000.0) == 5_000.0
    # halfway to the last retry, the retry schedule decides: the check comes just after it
    halfway = POLICY.retry_pauses[-1] / 2
    before_last = NOW - POLICY.retries_seconds + halfway
    assert _pause(status=StatusKind.ERROR, error_since=before_last, routine_floor=1e6) == halfway


def test_a_queue_that_drains_soon_still_brings_a_routine_check_forward() -> None:
    drains = QueueMetrics(pending_messages=3, max_delay_seconds=12)
    assert _pause(metrics=drains, routine_floor=500.0) == 12 + POLICY.queue_margin_seconds


@pytest.mark.parametrize("share", [0, -0.1, 1.5])
def test_a_routine_share_is_a_share_of_the_budget(share: float) -> None:
    with pytest.raises(ValueError, match="routine_share"):
        WatchPolicy(routine_share=share)


# --- in the service and the watcher ---------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def app(clock: FakeClock) -> Starlette:
    return create_app(
        SimulatorConfig(
            api_key=SIM_KEY, clock=clock, processing_seconds=PROCESSING, rate_limit_calls=10_000
        )
    )


@pytest.fixture
def simulator(app: Starlette) -> Simulator:
    sim: Simulator = app.state.simulator
    return sim


@pytest.fixture
async def store(database_url: str, clock: FakeClock) -> AsyncIterator[WatchStore]:
    async with open_test_store(database_url, clock=clock) as opened:
        yield opened


@pytest.fixture
async def service(
    app: Starlette, clock: FakeClock, store: WatchStore
) -> AsyncIterator[CaptureService]:
    # 40 calls a second (on real time) and the default refresh floor (5 s); a small routine
    # share, so that a few watches already show their floor
    client = CaptureStatusClient(
        fast_options(budget_calls=40, budget_seconds=1, budget_guard_seconds=0),
        SecretStr(SIM_KEY),
        transport=in_process_transport(app),
    )
    one = CaptureService.for_client(client)
    settings = WatchSettings(policy=WatchPolicy(routine_share=0.01))
    async with client:
        yield CaptureService(
            one.accounts, {"default": client}, store=store, watch_settings=settings, clock=clock
        )


def _subscriber(n: int) -> NewSubscriber:
    return NewSubscriber(
        kind="test", principal=f"slack:T1:U{n}", scope="slack:T1", target_key=f"dm{n}"
    )


class _Notifier:
    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        del notice
        return DeliveryResult("sent")


async def _watch_many(service: CaptureService, simulator: Simulator, count: int) -> list[str]:
    ids = [simulator.submit(capture_body(n)) for n in range(count)]
    for n, rid in enumerate(ids):
        await service.watch(rid, subscriber=_subscriber(n), caller=PERSON)
    return ids


async def _active(store: WatchStore, rid: str) -> WatchRecord:
    watch = await store.watch_of(WatchKey("default", "opportunity_capture", rid))
    assert watch is not None
    return watch


def _floor(service: CaptureService, watches: int) -> float:
    return watches * service.client().budget.spacing / service.watch_policy.routine_share


async def test_a_new_watch_behind_others_is_first_checked_within_their_share(
    service: CaptureService, simulator: Simulator, store: WatchStore, clock: FakeClock
) -> None:
    ids = await _watch_many(service, simulator, 31)

    first, last = [await _active(store, rid) for rid in (ids[0], ids[-1])]
    assert first.next_check_at - first.created_at == POLICY.min_seconds
    # 30 queued before it: 30 x 0.025 s / 0.01 = 75 s, more than the usual 5 s
    assert last.next_check_at - last.created_at == pytest.approx(_floor(service, 30))
    assert _floor(service, 30) == pytest.approx(75)


async def test_after_a_check_the_head_comes_back_soon_and_the_others_within_their_share(
    service: CaptureService, simulator: Simulator, store: WatchStore, clock: FakeClock
) -> None:
    ids = await _watch_many(service, simulator, 31)
    clock.advance(_floor(service, 30) + 1)
    worker = Watcher(service, store, notifiers={"test": _Notifier()}, clock=clock)

    while await worker.step():
        pass

    head, behind = [await _active(store, rid) for rid in (ids[0], ids[1])]
    now = clock()
    assert head.next_check_at == pytest.approx(now + POLICY.head_seconds)
    assert behind.next_check_at == pytest.approx(now + _floor(service, 31))
    assert worker.stats.checks == 31


async def test_a_check_right_after_someone_looked_the_request_up_still_asks_leadsquared(
    service: CaptureService, simulator: Simulator, store: WatchStore, clock: FakeClock
) -> None:
    [rid] = await _watch_many(service, simulator, 1)  # its lookup was an instant ago
    watch = await _active(store, rid)
    calls = simulator.count(path="/opportunity/status")
    clock.advance(PROCESSING)  # final now, while the client still holds the In-Queue answer
    worker = Watcher(service, store, notifiers={"test": _Notifier()}, clock=clock)

    while await worker.step():
        pass

    assert simulator.count(path="/opportunity/status") == calls + 1
    ended = await store.get(watch.id)
    assert ended is not None
    assert (ended.state, ended.last_status) == ("final", "Success")


async def test_the_routine_count_leaves_out_errors_leadsquared_still_retries(
    store: WatchStore, clock: FakeClock
) -> None:
    start = clock()
    for n, status in enumerate(["In-Queue", "ERROR", "ERROR"]):
        await store.add(
            WatchKey("default", "opportunity_capture", f"00000000-0000-4000-8000-00000000000{n}"),
            _subscriber(n),
            status=status,
            next_check_at=start,
            expires_at=start + 86_400,
        )
    claims = sorted(
        await store.claim_due("w1", limit=10, lease_seconds=60), key=lambda c: c.watch.id
    )
    for claim, error_since in zip(claims, [None, start, start - 40_000], strict=True):
        assert await store.reschedule(
            claim,
            status=claim.watch.last_status,
            next_check_at=start + 60,
            error_since=error_since,
            failures=0,
            checked=True,
        )

    # the one In-Queue, and the ERROR seen 40,000 s ago (past the ~33,000 s of retries)
    assert await store.routine_count("default", error_since_before=start - 33_000) == 2
    assert await store.routine_count("default", error_since_before=start - 50_000) == 1
    assert await store.routine_count("other", error_since_before=start) == 0


# --- a request in ERROR has left the queue ---------------------------------------------------


async def test_a_watch_in_error_is_nobody_s_head_and_is_not_pulled_forward(
    store: WatchStore, clock: FakeClock
) -> None:
    start = clock()
    watches: list[WatchRecord] = []
    for n, status in enumerate(["ERROR", "In-Queue", "In-Queue", "ERROR", "In-Queue"]):
        rid = f"00000000-0000-4000-8000-00000000001{n}"
        added = await store.add(
            WatchKey("default", "opportunity_capture", rid),
            _subscriber(n),
            status=status,
            next_check_at=start + 300,
            expires_at=start + 86_400,
        )
        watches.append(added.watch)
        clock.advance(1)
    error, first, second, later_error, third = watches

    # the earlier ERROR does not keep the first In-Queue watch from being the head
    assert await store.is_head(first)
    assert not await store.is_head(second)
    # the second is found final (a while later): the first (earlier) now, the third (next in
    # the queue) soon; the ERROR watches keep their retry schedule
    clock.advance(30)
    assert await store.pull_forward(second, now=clock(), next_at=clock() + 1) == 2
    assert [await _next_in(store, w) for w in (first, third)] == [0, 1]
    assert [await _next_in(store, w) for w in (error, later_error)] == [start + 300 - clock()] * 2


async def _next_in(store: WatchStore, watch: WatchRecord) -> float:
    now = await store.get(watch.id)
    assert now is not None
    return now.next_check_at - store.clock()


async def test_a_request_first_seen_in_error_moves_the_queue_behind_it_up(
    service: CaptureService, simulator: Simulator, store: WatchStore, clock: FakeClock
) -> None:
    ids = await _watch_many(service, simulator, 3)
    simulator.put_answer(
        ids[0],
        {
            "Status": "ERROR",
            "StatusReason": "Unable to Connect to DB",
            "TaskType": "OpportunityCapture",
        },
    )
    head = await _active(store, ids[0])
    clock.advance(head.next_check_at - clock())  # only the head is due
    worker = Watcher(service, store, notifiers={"test": _Notifier()}, clock=clock)

    await worker.step()

    errored, following = [await _active(store, rid) for rid in ids[:2]]
    assert errored.last_status == "ERROR"
    assert following.next_check_at == pytest.approx(
        clock() + service.watch_policy.next_after_final_seconds
    )
    assert await store.is_head(following)
