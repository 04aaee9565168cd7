"""The budget scheduler: lanes first, fair shares inside a lane, paced lower lanes, claims
shared through Redis, and an answer for whoever cannot be served in time."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from shared.errors import RateLimitedError
from shared.guard.lanes import Caller, FairQueue, Lane, PrincipalSlots, Ticket, Waiter
from shared.guard.ratelimit import RateBudget
from shared.guard.redis_link import RedisLink
from shared.guard.redis_window import SharedWindow
from tests.conftest import FakeClock
from tests.redis_server import running_redis

#: long enough for any test here: a wait past it is a failure, not a hang
BOUND = 10.0


def _deadline() -> float:
    return time.monotonic() + BOUND


async def _queued(budget: RateBudget, count: int) -> None:
    """Let the event loop run until ``count`` callers wait for ``budget`` (bounded)."""
    for _ in range(10_000):
        if budget.queued >= count:
            return
        await asyncio.sleep(0)  # a turn of the loop, not a wait for time to pass
    raise AssertionError(f"{budget.queued} callers queued, expected {count}")


async def test_waiters_are_served_by_lane_then_in_turns_between_principals() -> None:
    queue = FairQueue()
    order = [
        Caller.bulk("batch"),
        Caller.interactive("ann"),
        Caller.interactive("ann"),
        Caller.interactive("ann"),
        Caller.watch("watcher"),
        Caller.interactive("bob"),
    ]
    for caller in order:
        queue.push(Waiter(caller))
    served: list[Caller] = []
    while (waiter := queue.pop_head()) is not None:
        served.append(waiter.caller)
    assert [(c.lane, c.principal) for c in served] == [
        (Lane.INTERACTIVE, "ann"),
        (Lane.INTERACTIVE, "bob"),  # bob's one call comes before ann's second
        (Lane.INTERACTIVE, "ann"),
        (Lane.INTERACTIVE, "ann"),
        (Lane.WATCH, "watcher"),
        (Lane.BULK, "batch"),
    ]
    assert len(queue) == 0


async def test_waiters_that_gave_up_are_skipped() -> None:
    queue = FairQueue()
    gone, staying = Waiter(Caller.interactive("ann")), Waiter(Caller.interactive("bob"))
    queue.push(gone)
    queue.push(staying)
    gone.granted.cancel()
    assert queue.pop_head() is staying
    assert queue.pop_head() is None


async def test_a_waiters_position_counts_higher_lanes_and_one_turn_per_other_principal() -> None:
    queue = FairQueue()
    for _ in range(3):
        queue.push(Waiter(Caller.interactive("ann")))
    mine = Waiter(Caller.interactive("bob"))
    queue.push(mine)
    queue.push(Waiter(Caller.bulk("batch")))
    assert queue.position(mine) == 1  # ann's first call, then bob's


async def test_a_higher_lane_goes_before_the_lower_lanes_already_waiting() -> None:
    budget = RateBudget(2, 1, key="lanes", guard_seconds=0.0)
    for _ in range(2):  # the window is full
        await budget.acquire(deadline=_deadline(), caller=Caller.interactive("ann"))
    granted: list[str] = []

    async def take(caller: Caller, name: str) -> None:
        await budget.acquire(deadline=_deadline(), caller=caller)
        granted.append(name)

    bulk = [asyncio.create_task(take(Caller.bulk("batch"), f"bulk{i}")) for i in range(2)]
    await _queued(budget, 2)  # the batch queues up first
    person = asyncio.create_task(take(Caller.interactive("bob"), "bob"))
    await asyncio.wait_for(asyncio.gather(person, *bulk), BOUND)
    assert granted[0] == "bob"
    assert budget.granted_by_lane["bulk"] == 2
    await budget.aclose()


async def test_principals_of_one_lane_take_turns_whoever_asked_first() -> None:
    budget = RateBudget(4, 1, key="turns", guard_seconds=0.0)
    for _ in range(4):
        await budget.acquire(deadline=_deadline(), caller=Caller.interactive("x"))
    granted: list[str] = []

    async def take(principal: str) -> None:
        await budget.acquire(deadline=_deadline(), caller=Caller.interactive(principal))
        granted.append(principal)

    tasks = [asyncio.create_task(take("ann")) for _ in range(4)]
    await _queued(budget, 4)
    tasks.append(asyncio.create_task(take("bob")))
    await asyncio.wait_for(asyncio.gather(*tasks), BOUND)
    assert granted.index("bob") <= 1  # one of ann's calls at most before bob's
    await budget.aclose()


async def test_the_lower_lanes_spread_their_calls_over_the_window() -> None:
    budget = RateBudget(10, 1, key="pace", guard_seconds=0.0)
    stamps: list[float] = []
    for _ in range(5):
        await budget.acquire(deadline=_deadline(), caller=Caller.bulk("batch"))
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= budget.spacing * 0.9  # not five at once, as the window would allow
    started = time.monotonic()
    await budget.acquire(deadline=_deadline(), caller=Caller.interactive("ann"))
    assert time.monotonic() - started < budget.spacing  # a person is not paced
    await budget.aclose()


async def test_whoever_cannot_be_served_before_the_deadline_hears_when_to_try_again() -> None:
    budget = RateBudget(1, 1, key="deadline", guard_seconds=0.0)
    await budget.acquire(deadline=_deadline())
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as refused:
        await budget.acquire(deadline=time.monotonic() + 0.2, request_id="r1")
    assert time.monotonic() - started < 0.5  # at once, not after sitting out the window
    assert refused.value.retry_after is not None
    assert 0 < refused.value.retry_after <= 1.0
    assert "Try again in about 1 s" in refused.value.message
    assert refused.value.http_status is None  # our own budget, not LeadSquared
    await budget.aclose()


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    budget = RateBudget(1, 1, key="cancel", guard_seconds=0.0)
    await budget.acquire(deadline=_deadline())
    first = asyncio.create_task(budget.acquire(deadline=_deadline(), caller=Caller.bulk("a")))
    second = asyncio.create_task(budget.acquire(deadline=_deadline(), caller=Caller.bulk("b")))
    await _queued(budget, 2)
    first.cancel()
    await asyncio.wait_for(second, BOUND)
    assert first.cancelled()
    await budget.aclose()


def test_one_principal_runs_at_most_its_share_of_waits() -> None:
    slots = PrincipalSlots(2)
    with slots.hold("mcp:ops") as first, slots.hold("mcp:ops") as second:
        with slots.hold("mcp:ops") as third, slots.hold("mcp:other") as other:
            assert (first, second, third, other) == (True, True, False, True)
        assert slots.running("mcp:ops") == 2
    assert slots.running("mcp:ops") == 0


async def test_a_person_on_one_replica_goes_before_a_batch_on_another() -> None:
    async with running_redis() as redis_server:
        links = [RedisLink(redis_server.url), RedisLink(redis_server.url)]
        batch_side, person_side = (
            RateBudget(4, 1, key="shared", guard_seconds=0.0, link=link, claimant=name)
            for link, name in zip(links, ("replica-a", "replica-b"), strict=True)
        )
        try:
            going = asyncio.Event()

            async def batch() -> None:
                for granted in range(12):
                    await batch_side.acquire(deadline=_deadline(), caller=Caller.bulk("batch"))
                    if granted == 4:
                        going.set()  # the batch has filled the window and keeps going

            runner = asyncio.create_task(batch())
            await asyncio.wait_for(going.wait(), BOUND)
            bob = Caller.interactive("bob")
            waits = [await person_side.acquire(deadline=_deadline(), caller=bob) for _ in range(3)]
            await asyncio.wait_for(runner, BOUND)
            # each of bob's calls waited for the next call to free up, never for the batch
            assert max(waits) <= 2 * batch_side.spacing + 0.1
            assert person_side.shared
            assert batch_side.shared
        finally:
            for budget in (batch_side, person_side):
                await budget.aclose()
            for link in links:
                await link.aclose()


async def test_a_claim_of_a_higher_lane_holds_back_the_lower_lanes_of_every_replica() -> None:
    wall = FakeClock(1_000_000.0)
    async with running_redis() as redis_server:
        link = RedisLink(redis_server.url)
        batch_side, person_side = (
            SharedWindow(link.client, key="k", claimant=name, limit=1, expiry=5.0, wall=wall)
            for name in ("replica-a", "replica-b")
        )
        try:
            assert await batch_side.take(Lane.BULK, 1.0) is None  # the window is full now
            wall.advance(1)
            assert await person_side.take(Lane.INTERACTIVE, 0.0) == pytest.approx(4.0)
            wall.advance(4.1)  # the call has left the window: one is free
            refused = await batch_side.take(Lane.BULK, 1.0)
            assert refused is not None  # bob on the other replica claimed it
            assert await person_side.take(Lane.INTERACTIVE, 0.0) is None
            await person_side.release_claim(Lane.INTERACTIVE)
            wall.advance(5.0)
            assert await batch_side.take(Lane.BULK, 1.0) is None  # no claim left: its turn
        finally:
            await link.aclose()


async def test_the_pace_of_the_lower_lanes_holds_across_replicas() -> None:
    wall = FakeClock(1_000_000.0)
    async with running_redis() as redis_server:
        link = RedisLink(redis_server.url)
        first, second = (
            SharedWindow(link.client, key="k", claimant=name, limit=10, expiry=5.0, wall=wall)
            for name in ("replica-a", "replica-b")
        )
        try:
            assert await first.take(Lane.BULK, 0.5) is None
            assert await second.take(Lane.WATCH, 0.5) == pytest.approx(0.5)
            assert await second.take(Lane.INTERACTIVE, 0.0) is None  # people are not paced
            await second.release_claim(Lane.WATCH)  # (the watch caller went away)
            wall.advance(0.5)
            assert await second.take(Lane.BULK, 0.5) is None
        finally:
            await link.aclose()


async def test_replicas_waiting_in_one_paced_lane_take_turns() -> None:
    wall = FakeClock(1_000_000.0)
    async with running_redis() as redis_server:
        link = RedisLink(redis_server.url)
        first, second = (
            SharedWindow(link.client, key="k", claimant=name, limit=100, expiry=5.0, wall=wall)
            for name in ("replica-a", "replica-b")
        )
        try:
            turns: list[str] = []
            for _ in range(6):
                wall.advance(1.0)  # one paced call is due
                for name, window in (("a", first), ("b", second)):  # a always asks first
                    if await window.take(Lane.BULK, 1.0) is None:
                        turns.append(name)
            assert turns == ["a", "b", "a", "b", "a", "b"]
        finally:
            await link.aclose()


async def test_a_person_joining_a_batchs_call_raises_it_to_their_lane() -> None:
    budget = RateBudget(2, 1, key="promote", guard_seconds=0.0)
    for _ in range(2):
        await budget.acquire(deadline=_deadline())
    granted: list[str] = []

    async def take(name: str, *, ticket: Ticket | None = None) -> None:
        await budget.acquire(deadline=_deadline(), caller=Caller.bulk("batch"), ticket=ticket)
        granted.append(name)

    ahead = [asyncio.create_task(take(f"bulk{i}")) for i in range(2)]
    await _queued(budget, 2)
    shared_call = Ticket(Caller.bulk("batch"))
    joined = asyncio.create_task(take("shared", ticket=shared_call))
    await _queued(budget, 3)
    budget.promote(shared_call, Caller.interactive("bob"))  # bob looks the same id up
    await asyncio.wait_for(asyncio.gather(joined, *ahead), BOUND)
    assert granted[0] == "shared"
    assert budget.granted_by_lane["interactive"] == 3  # the two before, and the shared call
    await budget.aclose()


async def test_a_caller_arriving_while_the_dispatcher_winds_down_is_still_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    releasing, release = asyncio.Event(), asyncio.Event()
    real_release = SharedWindow.release_claim

    async def slow_release(self: SharedWindow, lane: Lane) -> None:
        releasing.set()
        await release.wait()  # Redis is slow to answer just now
        await real_release(self, lane)

    monkeypatch.setattr(SharedWindow, "release_claim", slow_release)
    async with running_redis() as redis_server:
        link = RedisLink(redis_server.url)
        budget = RateBudget(1, 1, key="wind-down", guard_seconds=0.0, link=link)
        try:
            await budget.acquire(deadline=_deadline())  # the window is full for a second
            gone = asyncio.create_task(
                budget.acquire(deadline=_deadline(), caller=Caller.bulk("a"))
            )
            await _queued(budget, 1)
            gone.cancel()  # the dispatcher finds nobody left and releases the bulk claim
            await asyncio.wait_for(releasing.wait(), BOUND)
            bob = asyncio.create_task(
                budget.acquire(deadline=time.monotonic() + 3, caller=Caller.interactive("bob"))
            )
            await _queued(budget, 1)  # bob was refused at once and queued meanwhile
            release.set()
            await asyncio.wait_for(bob, BOUND)  # served when the call frees up, not refused
        finally:
            await budget.aclose()
            await link.aclose()


async def test_a_caller_refused_at_once_leaves_no_claim_behind() -> None:
    async with running_redis() as redis_server:
        link = RedisLink(redis_server.url)
        budget = RateBudget(1, 5, key="no-leak", guard_seconds=0.0, link=link)
        try:
            await budget.acquire(deadline=_deadline())
            with pytest.raises(RateLimitedError):  # the next call is 5 s away
                await budget.acquire(deadline=time.monotonic() + 0.1, caller=Caller.watch("w"))
            claims = await link.client.zrange("no-leak:claims", 0, -1)  # pyright: ignore[reportUnknownMemberType]
            assert claims == []  # other replicas' batches do not stand back for nobody
        finally:
            await budget.aclose()
            await link.aclose()
