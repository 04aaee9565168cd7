"""``wait_for_capture`` on a server that keeps watches: the watcher checks, the wait wakes.

The tool's contract is the same as when it checks by itself (``test_tools.py``): the same
arguments, result and progress notifications; only who checks changes.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import pytest
from mcp import Client
from mcp.server.subscriptions import ResourceUpdated
from starlette.applications import Starlette

from mcp_server.auth import LOCAL_REQUESTER
from mcp_server.results import WaitResult
from mcp_server.server import CaptureServer, build_server
from shared.simulator import SAMPLES, Simulator
from tests.conftest import FakeClock
from tests.mcp_server.conftest import (
    FAST_SCHEDULE,
    PROCESSING_SECONDS,
    Progress,
    capture_body,
    make_settings,
    structured,
)
from tests.mcp_server.watching import (
    SteppedWatchers,
    request_uri,
    unreachable_store,
    watch_of,
    watched_server,
)

LOCAL = LOCAL_REQUESTER.principal
CREATED = SAMPLES["created"].request_id
#: the longest any answer of the server is awaited (no sleeping: bounded waits)
WITHIN = 10.0

T = TypeVar("T")


async def within(awaitable: asyncio.Future[T] | asyncio.Task[T]) -> T:
    async with asyncio.timeout(WITHIN):
        return await awaitable


@pytest.fixture
def watchers() -> SteppedWatchers:
    return SteppedWatchers()


@pytest.fixture
def server(
    database_url: str, sim_app: Starlette, sim_clock: FakeClock, watchers: SteppedWatchers
) -> CaptureServer:
    return watched_server(database_url, sim_app, sim_clock, watchers)


async def test_a_wait_is_woken_by_the_watchers_check_and_reports_its_progress(
    server: CaptureServer, sim: Simulator, sim_clock: FakeClock, watchers: SteppedWatchers
) -> None:
    rid = sim.submit(capture_body())
    progress = Progress()
    async with Client(server) as client:
        call = asyncio.create_task(
            client.call_tool(
                "wait_for_capture",
                {"request_id": rid, "timeout_seconds": 60},
                progress_callback=progress,
            )
        )
        await within(asyncio.ensure_future(progress.reached(1).wait()))
        [following] = await watchers.service.watches(LOCAL)
        assert following.request_id == rid
        assert following.target == {"wait": following.target["wait"]}
        sim_clock.advance(PROCESSING_SECONDS)
        assert await watchers.step() == 2  # the check, and the wait's notice
        result = await within(call)
        assert await watchers.service.watches(LOCAL) == []
    waited = WaitResult.model_validate(structured(result))
    assert waited.finished
    assert not waited.timed_out
    assert waited.capture.status == "Success"
    assert waited.checks == 2  # the wait's first look, then the watcher's check
    assert waited.summary.startswith("Finished after")
    first, last = progress.notes
    assert first[2] == "Check 1: In-Queue (not final); next check in 5 s"
    assert last[2] == "Check 2: Success (final); done waiting"
    assert last[0] > first[0]
    assert all(total == 60 for _, total, _ in progress.notes)
    # the watcher asked LeadSquared once, in the watch lane
    assert watchers.watcher.stats.checks == 1
    assert watchers.watcher.stats.notices_sent == 1


async def test_a_wait_that_runs_out_of_time_stops_following_the_request(
    server: CaptureServer, sim: Simulator, watchers: SteppedWatchers
) -> None:
    rid = sim.submit(capture_body())
    async with Client(server) as client:
        args = {"request_id": rid, "timeout_seconds": 0.2}
        waited = WaitResult.model_validate(
            structured(await client.call_tool("wait_for_capture", args))
        )
        place, stopped = await watchers.service.next_unwatch(0)
        assert await watch_of(watchers.service, rid) is None
    assert place is not None
    assert place.startswith("wait:")
    assert stopped == 1
    assert not waited.finished
    assert waited.timed_out
    assert waited.capture.status == "In-Queue"
    assert waited.checks == 1
    assert "Call wait_for_capture again" in waited.summary


async def test_a_final_request_is_answered_at_once_without_a_watch(
    server: CaptureServer, watchers: SteppedWatchers
) -> None:
    async with Client(server) as client:
        args = {"request_id": CREATED, "timeout_seconds": 60}
        waited = WaitResult.model_validate(
            structured(await client.call_tool("wait_for_capture", args))
        )
        assert await watch_of(watchers.service, CREATED) is None
    assert waited.finished
    assert waited.checks == 1
    assert watchers.service.unwatched.empty()


async def test_a_wait_and_a_stream_on_one_request_share_its_watch_and_are_both_told(
    server: CaptureServer, sim: Simulator, sim_clock: FakeClock, watchers: SteppedWatchers
) -> None:
    rid = sim.submit(capture_body())
    uri = request_uri(rid)
    progress = Progress()
    async with Client(server) as client, client.listen(resource_subscriptions=[uri]) as stream:
        call = asyncio.create_task(
            client.call_tool("wait_for_capture", {"request_id": rid}, progress_callback=progress)
        )
        await within(asyncio.ensure_future(progress.reached(1).wait()))
        assert [entry.request_id for entry in await watchers.service.watches(LOCAL)] == [rid] * 2
        sim_clock.advance(PROCESSING_SECONDS)
        assert await watchers.step() == 3  # one check, two notices
        waited = WaitResult.model_validate(structured(await within(call)))
        assert await within(asyncio.ensure_future(anext(stream))) == ResourceUpdated(uri=uri)
    assert waited.finished
    assert watchers.watcher.stats.checks == 1


async def test_while_the_store_is_down_a_wait_checks_by_itself(
    sim_app: Starlette, sim: Simulator, sim_clock: FakeClock, watchers: SteppedWatchers
) -> None:
    server = build_server(
        make_settings(),
        service_opener=unreachable_store(sim_app, sim_clock),
        poll_schedule=FAST_SCHEDULE,
        watcher_runner=watchers,
    )
    rid = sim.submit(capture_body())
    notes: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message)
        if len(notes) == 1:
            sim_clock.advance(PROCESSING_SECONDS)  # the capture leaves the queue meanwhile

    async with Client(server) as client:
        result = await client.call_tool(
            "wait_for_capture",
            {"request_id": rid, "timeout_seconds": 60},
            progress_callback=on_progress,
        )
    waited = WaitResult.model_validate(structured(result))
    assert waited.finished
    assert waited.checks == 2
    assert notes[-1] == "Check 2: Success (final); done waiting"
    assert watchers.watcher.stats.checks == 0
