"""Watching: the use cases (watch, unwatch, watches) and the watcher, on both databases.

One fake clock drives the simulator, the client, the store and the watcher, so an hour
passes in a line and a request becomes final when the test says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from shared.errors import InvalidRequestIdError, TooManyWatchesError, WatchUnavailableError
from shared.guard.lanes import Caller, Lane
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import DeliveryResult, WatchNotice
from shared.service.watcher import Watcher, running_watcher
from shared.service.watching import WatchSettings
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Simulator, SimulatorConfig, create_app
from shared.store import (
    NewSubscriber,
    WatchLimits,
    WatchStore,
    async_database_url,
    create_store_engine,
)
from tests.conftest import SIM_KEY, FakeClock, fast_options
from tests.databases import open_test_store

PROCESSING = 60.0
PERSON = Caller.interactive("slack:T1:U1")
IN_QUEUE_FOREVER = SAMPLES["in_queue"].request_id
CREATED = SAMPLES["created"].request_id


def capture_body(n: int = 0) -> dict[str, Any]:
    return {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": f"watch{n}@example.com"},
            {"Attribute": "Phone", "Value": "+91-98450-12345"},
            {"Attribute": "SearchBy", "Value": "EmailAddress"},
        ],
        "Opportunity": {
            "OpportunityEventCode": 12000,
            "Fields": [{"SchemaName": "mx_Custom_1", "Value": f"Deal {n}"}],
        },
    }


def subscriber(user: str = "U1") -> NewSubscriber:
    return NewSubscriber(
        kind="test",
        principal=f"slack:T1:{user}",
        scope="slack:T1",
        target={"user": user},
        target_key="dm",
    )


@dataclass
class RecordingNotifier:
    """Records every notice; answers with ``outcomes`` in turn (then ``sent``)."""

    notices: list[WatchNotice] = field(default_factory=list[WatchNotice])
    outcomes: list[DeliveryResult] = field(default_factory=list[DeliveryResult])

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        self.notices.append(notice)
        return self.outcomes.pop(0) if self.outcomes else DeliveryResult("sent")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def app(clock: FakeClock) -> Starlette:
    return create_app(SimulatorConfig(api_key=SIM_KEY, clock=clock, processing_seconds=PROCESSING))


@pytest.fixture
def simulator(app: Starlette) -> Simulator:
    sim: Simulator = app.state.simulator
    return sim


@pytest.fixture
async def store(database_url: str, clock: FakeClock) -> AsyncIterator[WatchStore]:
    async with open_test_store(database_url, clock=clock) as opened:
        yield opened


def make_service(
    app: Starlette, clock: FakeClock, store: WatchStore | None, **settings: Any
) -> tuple[CaptureService, CaptureStatusClient]:
    client = CaptureStatusClient(
        fast_options(refresh_floor_seconds=0.0),
        SecretStr(SIM_KEY),
        transport=in_process_transport(app),  # the budget keeps real time: it paces checks
    )
    service = CaptureService.for_client(client)
    service = CaptureService(
        service.accounts,
        {"default": client},
        store=store,
        watch_settings=WatchSettings(**settings) if settings else None,
        clock=clock,
    )
    return service, client


@pytest.fixture
async def service(
    app: Starlette, clock: FakeClock, store: WatchStore
) -> AsyncIterator[CaptureService]:
    made, client = make_service(app, clock, store)
    async with client:
        yield made


def watcher(service: CaptureService, notifier: RecordingNotifier, clock: FakeClock) -> Watcher:
    assert service.store is not None
    return Watcher(service, service.store, notifiers={"test": notifier}, clock=clock, owner="w1")


# --- the use cases -------------------------------------------------------------------------


async def test_a_queued_request_is_watched_and_the_answer_says_what_happens_next(
    service: CaptureService, simulator: Simulator
) -> None:
    rid = simulator.submit(capture_body())
    view = await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    assert view.watching
    assert view.new_watch
    assert not view.already
    assert view.view.status is not None
    assert view.view.status.task.status == "In-Queue"
    assert "you will be told once it is final" in view.message
    [entry] = await service.watches("slack:T1:U1")
    assert entry.request_id == rid
    assert entry.last_status == "In-Queue"


async def test_a_final_request_is_answered_at_once_without_a_watch(
    service: CaptureService,
) -> None:
    view = await service.watch(CREATED, subscriber=subscriber(), caller=PERSON)
    assert not view.watching
    assert "final already" in view.message
    assert view.view.found
    assert await service.watches("slack:T1:U1") == []


async def test_an_unknown_id_is_answered_with_the_reason_and_not_watched(
    service: CaptureService,
) -> None:
    view = await service.watch(UNKNOWN_REQUEST_ID, subscriber=subscriber(), caller=PERSON)
    assert not view.watching
    assert view.message.startswith("Not watched: ")
    assert view.view.error is not None
    assert view.view.error.code == "not_found"
    assert await service.watches("slack:T1:U1") == []


async def test_an_invalid_id_is_refused_before_anything_is_asked(
    service: CaptureService, simulator: Simulator
) -> None:
    with pytest.raises(InvalidRequestIdError):
        await service.watch("not-an-id", subscriber=subscriber(), caller=PERSON)
    assert simulator.calls == []


async def test_the_same_request_twice_is_one_watch_and_both_people_are_told(
    service: CaptureService, simulator: Simulator, clock: FakeClock
) -> None:
    rid = simulator.submit(capture_body())
    first = await service.watch(rid, subscriber=subscriber("U1"), caller=PERSON)
    second = await service.watch(rid, subscriber=subscriber("U2"), caller=PERSON)
    again = await service.watch(rid, subscriber=subscriber("U1"), caller=PERSON)
    assert first.new_watch
    assert not second.new_watch
    assert "Someone else" in second.message
    assert again.already
    assert "already watching" in again.message
    notifier = RecordingNotifier()
    clock.advance(PROCESSING + 1)
    await _run_until_quiet(watcher(service, notifier, clock), clock)
    assert sorted(n.principal for n in notifier.notices) == ["slack:T1:U1", "slack:T1:U2"]


async def test_watches_beyond_the_limit_are_refused_with_what_to_do(
    app: Starlette, clock: FakeClock, store: WatchStore, simulator: Simulator
) -> None:
    limited, client = make_service(app, clock, store, limits=WatchLimits(per_principal=1))
    async with client:
        await limited.watch(
            simulator.submit(capture_body(1)), subscriber=subscriber(), caller=PERSON
        )
        with pytest.raises(TooManyWatchesError, match="Stop one you no longer need"):
            await limited.watch(
                simulator.submit(capture_body(2)), subscriber=subscriber(), caller=PERSON
            )


async def test_without_a_store_watching_says_so_and_lookups_work(
    app: Starlette, clock: FakeClock
) -> None:
    bare, client = make_service(app, clock, None)
    async with client:
        with pytest.raises(WatchUnavailableError, match="set DATABASE_URL"):
            await bare.watch(IN_QUEUE_FOREVER, subscriber=subscriber(), caller=PERSON)
        [view] = await bare.look_up([IN_QUEUE_FOREVER])
        assert view.found


async def test_a_store_that_is_down_means_cannot_watch_right_now_while_lookups_work(
    app: Starlette, clock: FakeClock
) -> None:
    down = WatchStore(create_store_engine(async_database_url("postgresql://x@127.0.0.1:9/x")))
    broken, client = make_service(app, clock, down)
    async with client:
        with pytest.raises(WatchUnavailableError, match="cannot watch right now"):
            await broken.watch(IN_QUEUE_FOREVER, subscriber=subscriber(), caller=PERSON)
        assert await broken.watch_readiness() == "the database of watches does not answer"
        [view] = await broken.look_up([IN_QUEUE_FOREVER])
        assert view.found
    await down.aclose()


async def test_unwatch_stops_my_watch_and_says_how_many(
    service: CaptureService, simulator: Simulator
) -> None:
    rid = simulator.submit(capture_body())
    await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    assert await service.unwatch(rid, principal="slack:T1:U2") == 0  # not theirs
    assert await service.unwatch(rid, principal="slack:T1:U1") == 1
    assert await service.watches("slack:T1:U1") == []


# --- the watcher ---------------------------------------------------------------------------


async def test_the_watcher_tells_once_when_the_request_becomes_final(
    service: CaptureService, simulator: Simulator, clock: FakeClock
) -> None:
    rid = simulator.submit(capture_body())
    await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    notifier = RecordingNotifier()
    worker = watcher(service, notifier, clock)
    assert await worker.step() == 0  # nothing due yet
    clock.advance(PROCESSING / 2)
    await _run_until_quiet(worker, clock)
    assert notifier.notices == []  # checked, still In-Queue
    clock.advance(PROCESSING)
    await _run_until_quiet(worker, clock)
    [notice] = notifier.notices
    assert notice.end == "final"
    assert notice.status == "Success"
    assert notice.headline.startswith(f"Capture request {rid} is final: Success")
    assert notice.view is not None
    assert notice.view.found
    assert "98450" not in notice.view.model_dump_json()  # the stored view is masked
    clock.advance(3600)
    await _run_until_quiet(worker, clock)
    assert len(notifier.notices) == 1
    assert worker.stats.notices_sent == 1


async def test_checks_go_through_the_watch_lane_of_the_budget(
    service: CaptureService, simulator: Simulator, clock: FakeClock
) -> None:
    rid = simulator.submit(capture_body())
    await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    before = service.client().budget.granted_by_lane[Lane.WATCH.label]
    clock.advance(10)
    await _run_until_quiet(watcher(service, RecordingNotifier(), clock), clock)
    assert service.client().budget.granted_by_lane[Lane.WATCH.label] > before


async def test_a_watch_that_never_ends_expires_saying_still_not_final(
    service: CaptureService, clock: FakeClock
) -> None:
    await service.watch(IN_QUEUE_FOREVER, subscriber=subscriber(), caller=PERSON, expires_in=600)
    notifier = RecordingNotifier()
    worker = watcher(service, notifier, clock)
    for _ in range(40):
        clock.advance(30)
        await _run_until_quiet(worker, clock)
    [notice] = notifier.notices
    assert notice.end == "expired"
    assert "still not final" in notice.headline
    assert worker.stats.checks < 40  # the pauses grew with the watch's age


async def test_a_closed_dm_fails_for_good_and_is_not_retried(
    service: CaptureService, simulator: Simulator, clock: FakeClock
) -> None:
    rid = simulator.submit(capture_body())
    await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    notifier = RecordingNotifier(outcomes=[DeliveryResult("failed", detail="cannot_dm_user")])
    worker = watcher(service, notifier, clock)
    clock.advance(PROCESSING + 1)
    await _run_until_quiet(worker, clock)
    clock.advance(86_400)
    await _run_until_quiet(worker, clock)
    assert len(notifier.notices) == 1
    assert worker.stats.notices_failed == 1


async def test_a_throttled_delivery_is_retried_later_and_sent_once(
    service: CaptureService, simulator: Simulator, clock: FakeClock
) -> None:
    rid = simulator.submit(capture_body())
    await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    notifier = RecordingNotifier(outcomes=[DeliveryResult("retry", retry_after=30)])
    worker = watcher(service, notifier, clock)
    clock.advance(PROCESSING + 1)
    await _run_until_quiet(worker, clock)
    assert len(notifier.notices) == 1
    clock.advance(29)
    await _run_until_quiet(worker, clock)
    assert len(notifier.notices) == 1
    clock.advance(2)
    await _run_until_quiet(worker, clock)
    assert [n.attempts for n in notifier.notices] == [1, 2]
    assert worker.stats.notices_sent == 1


async def test_notices_of_other_front_doors_are_left_to_them(
    service: CaptureService, simulator: Simulator, clock: FakeClock
) -> None:
    rid = simulator.submit(capture_body())
    await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    assert service.store is not None
    other = Watcher(service, service.store, notifiers={"slack": RecordingNotifier()}, clock=clock)
    clock.advance(PROCESSING + 1)
    await _run_until_quiet(other, clock)
    assert other.stats.ended == 1
    assert other.stats.notices_sent == 0
    mine = RecordingNotifier()
    await _run_until_quiet(watcher(service, mine, clock), clock)
    assert len(mine.notices) == 1


async def test_an_id_that_disappears_ends_the_watch_with_the_reason(
    service: CaptureService, simulator: Simulator, clock: FakeClock
) -> None:
    rid = simulator.submit(capture_body())
    await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    simulator.reset()  # LeadSquared no longer knows it
    notifier = RecordingNotifier()
    clock.advance(10)
    await _run_until_quiet(watcher(service, notifier, clock), clock)
    [notice] = notifier.notices
    assert notice.end == "failed"
    assert "stopped watching" in notice.headline


async def test_the_watcher_keeps_going_when_the_store_fails(
    app: Starlette, clock: FakeClock
) -> None:
    down = WatchStore(create_store_engine(async_database_url("postgresql://x@127.0.0.1:9/x")))
    broken, client = make_service(app, clock, down)
    async with client:
        worker = Watcher(broken, down, notifiers={"test": RecordingNotifier()}, clock=clock)
        assert await worker.step() == 0
        assert await worker.step() == 0
        assert worker.stats.store_failures == 2
    await down.aclose()


async def test_policy_of_the_service_comes_from_its_settings(
    app: Starlette, clock: FakeClock, store: WatchStore
) -> None:
    custom, client = make_service(app, clock, store, policy=WatchPolicy(expiry_seconds=60))
    async with client:
        assert custom.watch_policy.expiry_seconds == 60


async def _run_until_quiet(worker: Watcher, clock: FakeClock) -> None:
    """Step the watcher until it finds nothing more to do now (bounded)."""
    for _ in range(50):
        if not await worker.step():
            return
    raise AssertionError("the watcher never went quiet")


async def test_the_watcher_runs_in_the_background_wakes_when_poked_and_stops_cleanly(
    service: CaptureService, simulator: Simulator, clock: FakeClock
) -> None:
    rid = simulator.submit(capture_body())
    await service.watch(rid, subscriber=subscriber(), caller=PERSON)
    told = asyncio.Event()

    class Signalling(RecordingNotifier):
        async def deliver(self, notice: WatchNotice) -> DeliveryResult:
            told.set()
            return await super().deliver(notice)

    notifier = Signalling()
    async with running_watcher(service, notifiers={"test": notifier}) as worker:
        assert worker is not None
        clock.advance(PROCESSING + 1)
        worker.poke()
        await asyncio.wait_for(told.wait(), timeout=10)
    assert [n.request_id for n in notifier.notices] == [rid]
