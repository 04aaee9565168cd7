"""Single-flight and the status-class cache, on their own."""

from __future__ import annotations

import asyncio

import pytest

from shared.guard.cache import CacheTtls, ResultCache, SingleFlight
from shared.lsq.models import parse_status
from tests.conftest import FakeClock

ID = "c1d867a7-a325-4b68-954f-237dcd3c15e1"


async def test_concurrent_callers_share_one_run_and_its_result() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()
    runs = 0

    async def work() -> int:
        nonlocal runs
        runs += 1
        await release.wait()
        return 42

    waiters = [asyncio.create_task(flight.do("k", work)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [42] * 10
    assert runs == 1
    assert flight.shared == 9


async def test_every_sharer_receives_the_same_exception_and_the_key_is_freed() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def work() -> int:
        await release.wait()
        raise ValueError("upstream down")

    waiters = [asyncio.create_task(flight.do("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)

    async def ok() -> int:
        return 1

    assert await flight.do("k", ok) == 1


async def test_a_cancelled_leader_does_not_take_the_others_down_with_it() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()
    runs = 0

    async def work() -> int:
        nonlocal runs
        runs += 1
        await release.wait()
        return 7

    leader = asyncio.create_task(flight.do("k", work))
    follower = asyncio.create_task(flight.do("k", work))
    await asyncio.sleep(0)
    leader.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await follower == 7
    assert runs == 2  # the follower ran the work again as the new leader
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_a_cancelled_follower_leaves_the_shared_run_alone() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    release = asyncio.Event()

    async def work() -> int:
        await release.wait()
        return 9

    leader = asyncio.create_task(flight.do("k", work))
    follower = asyncio.create_task(flight.do("k", work))
    await asyncio.sleep(0)
    follower.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await leader == 9
    with pytest.raises(asyncio.CancelledError):
        await follower


@pytest.mark.parametrize(
    ("status", "ttl"),
    [("Success", 1000), ("FAILURE", 1000), ("ERROR", 60), ("In-Queue", 5), ("Paused", 5)],
)
async def test_each_status_class_lives_as_long_as_its_ttl(status: str, ttl: float) -> None:
    clock = FakeClock()
    cache = ResultCache(CacheTtls(final=1000, error_status=60, pending=5), clock=clock)
    await cache.put(parse_status({"TaskStatus": {"Status": status}}, request_id=ID))
    clock.advance(ttl - 0.5)
    assert await cache.get(ID) is not None
    clock.advance(1)
    assert await cache.get(ID) is None
