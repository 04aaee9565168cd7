"""Several processes share one budget through a real Redis, and survive losing it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import RateLimitedError
from shared.guard.cache import CacheTtls, ResultCache
from shared.guard.ratelimit import RateBudget, ThrottleCooldown
from shared.guard.redis_link import RedisLink
from shared.lsq.client import CaptureStatusClient
from shared.lsq.models import StatusKind, parse_status
from shared.simulator import SAMPLES, Simulator, SimulatorConfig, create_app
from shared.simulator.server import serve_simulator
from tests.conftest import SIM_KEY, FakeClock, fast_options
from tests.redis_server import running_redis, wait_until_ready

# Scaled down from 25 per 5 s so the test stays short; bench/ measures the real figure.
LIMIT, WINDOW = 50, 1
HEADROOM, GUARD = 6, 0.3
REPLICAS = 3
PER_REPLICA = 100


class CallCounter:
    """ASGI middleware that sets an event once the simulator has seen ``after`` API calls."""

    def __init__(self, app: ASGIApp, after: int) -> None:
        self.app = app
        self.after = after
        self.seen = 0
        self.reached = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/opportunity"):
            self.seen += 1
            if self.seen >= self.after:
                self.reached.set()
        await self.app(scope, receive, send)


def _body(n: int) -> dict[str, Any]:
    return {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": f"replica{n}@example.com"},
            {"Attribute": "SearchBy", "Value": "EmailAddress"},
        ],
        "Opportunity": {"OpportunityEventCode": 12000, "Fields": [{"SchemaName": "mx_Custom_1"}]},
    }


def _simulator() -> tuple[Simulator, list[str], Any]:
    app = create_app(
        SimulatorConfig(
            api_key=SIM_KEY, rate_limit_calls=LIMIT, rate_limit_seconds=WINDOW, processing_seconds=0
        )
    )
    sim: Simulator = app.state.simulator
    ids = [sim.submit(_body(n)) for n in range(REPLICAS * PER_REPLICA)]
    return sim, ids, app


async def _start_replica(
    url: str, redis_url: str, ids: Sequence[str]
) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "REDIS_", "SLACK_"))}
    env.update(
        LSQ_API_KEY=SIM_KEY,
        LSQ_ASYNC_BASE_URL=url,
        REDIS_URL=redis_url,
        LSQ_RATE_LIMIT_CALLS=str(LIMIT),
        LSQ_RATE_LIMIT_SECONDS=str(WINDOW),
        LSQ_RATE_HEADROOM_CALLS=str(HEADROOM),
        LSQ_RATE_WINDOW_GUARD_SECONDS=str(GUARD),
        LSQ_FALLBACK_REPLICAS=str(REPLICAS),
        LSQ_LOOKUP_DEADLINE_SECONDS="60",
        LSQ_MAX_CONCURRENCY="20",
        LSQ_BREAKER_FAILURES="100",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.shared.guard.replica_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None
    process.stdin.write(" ".join(ids).encode())
    await process.stdin.drain()
    process.stdin.close()
    return process


async def _finish(process: asyncio.subprocess.Process) -> tuple[dict[str, Any], str]:
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-2000:]
    summary: dict[str, Any] = json.loads(stdout.decode().splitlines()[-1])
    return summary, stderr.decode()


async def test_three_replicas_never_exceed_the_shared_budget_and_are_never_throttled() -> None:
    sim, ids, app = _simulator()
    async with running_redis() as redis_server, serve_simulator(app) as url:
        async with asyncio.timeout(120):
            replicas = [
                await _start_replica(
                    url, redis_server.url, ids[n * PER_REPLICA : (n + 1) * PER_REPLICA]
                )
                for n in range(REPLICAS)
            ]
            summaries = [summary for summary, _ in [await _finish(p) for p in replicas]]
    assert [s["answered"] for s in summaries] == [PER_REPLICA] * REPLICAS
    assert sim.count(status_code=429) == 0
    assert len(sim.calls) == REPLICAS * PER_REPLICA
    # within the shared budget, not just under the upstream limit: the headroom held
    assert sim.max_calls_in_any_window(WINDOW) <= LIMIT - HEADROOM


async def test_losing_redis_mid_burst_degrades_each_replica_to_its_share_and_answers_all() -> None:
    sim, ids, app = _simulator()
    counter = CallCounter(app, after=60)
    async with running_redis() as redis_server, serve_simulator(counter) as url:
        async with asyncio.timeout(180):
            replicas = [
                await _start_replica(
                    url, redis_server.url, ids[n * PER_REPLICA : (n + 1) * PER_REPLICA]
                )
                for n in range(REPLICAS)
            ]
            await counter.reached.wait()
            redis_server.kill()
            results = [await _finish(p) for p in replicas]
    for summary, stderr in results:
        unanswered = PER_REPLICA - summary["answered"]
        assert unanswered == sum(summary["errors"].values())  # every id answered or told why
        assert all(message.strip() for message in summary["messages"])
        assert summary["redis_outages"] == 1
        assert stderr.count("Redis is unreachable") == 1  # loudly, once
        assert "Traceback" not in stderr
    assert sum(s["answered"] for s, _ in results) >= REPLICAS * PER_REPLICA * 0.9
    assert len(sim.calls) >= REPLICAS * PER_REPLICA * 0.9
    # the switch to local shares waited out the shared window: LeadSquared saw no excess
    assert sim.count(status_code=429) == 0
    assert sim.max_calls_in_any_window(WINDOW) <= LIMIT


async def test_one_replica_answers_from_the_cache_another_filled() -> None:
    app = create_app(SimulatorConfig(api_key=SIM_KEY))
    sim: Simulator = app.state.simulator
    async with running_redis() as redis_server, serve_simulator(app) as url:
        links = [RedisLink(redis_server.url), RedisLink(redis_server.url)]
        first, second = (
            CaptureStatusClient(fast_options(url), SecretStr(SIM_KEY), link=link) for link in links
        )
        try:
            async with first, second:
                rid = SAMPLES["created"].request_id
                assert (await first.get_status(rid)).status is StatusKind.SUCCESS
                again = await second.get_status(rid)
                assert again.status is StatusKind.SUCCESS
                assert second.cache.shared_hits == 1
                assert len(sim.calls) == 1
                # What Redis holds has the lead's details masked.
                raw = await links[0].client.get(f"{first.account_key}:status:{rid}")
                assert isinstance(raw, bytes)
                assert b"Opportunity" in raw
                assert re.search(rb"[A-Za-z0-9._%+-]{2,}@", raw) is None
        finally:
            for link in links:
                await link.aclose()


async def test_the_budget_falls_back_while_redis_is_down_and_returns_to_it() -> None:
    clock = FakeClock()
    async with running_redis() as redis_server:
        link = RedisLink(redis_server.url, retry_seconds=5, clock=clock)
        budget = RateBudget(10, 1, key="replica-test", link=link, fallback_calls=2, clock=clock)
        try:
            await budget.acquire(deadline=clock() + 5)
            assert budget.shared
            redis_server.kill()
            with pytest.raises(RateLimitedError):
                # the shared window may be full: the local share starts a window later
                await budget.acquire(deadline=clock() + 0.5)
            clock.advance(1.25)
            for _ in range(2):  # this replica's share while Redis is down
                await budget.acquire(deadline=clock() + 5)
            assert not budget.shared
            assert link.outages == 1
            with pytest.raises(RateLimitedError):
                await budget.acquire(deadline=clock())  # the share is used up
            redis_server.restart()
            await wait_until_ready(link.client)
            clock.advance(5)  # the next probe is due
            await budget.acquire(deadline=clock() + 5)
            assert budget.shared
            assert link.outages == 1
        finally:
            await link.aclose()


async def test_back_on_redis_the_local_calls_leave_the_window_before_any_shared_call() -> None:
    clock = FakeClock()
    async with running_redis() as redis_server:
        link = RedisLink(redis_server.url, retry_seconds=0.5, clock=clock)
        budget = RateBudget(10, 1, key="back", link=link, fallback_calls=2, clock=clock)
        try:
            redis_server.kill()
            with pytest.raises(RateLimitedError):  # the outage noticed: a window's wait
                await budget.acquire(deadline=clock() + 0.1)
            clock.advance(1.25)
            await budget.acquire(deadline=clock() + 5)  # a call of the local share
            redis_server.restart()
            await wait_until_ready(link.client)
            clock.advance(0.5)  # the next probe is due; the cache or the cooldown makes it
            assert await link.run(link.client.ping, False)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            assert link.healthy
            with pytest.raises(RateLimitedError):  # hold on: that local call is recent
                await budget.acquire(deadline=clock())
            assert await link.client.llen("back:window") == 0  # pyright: ignore[reportUnknownMemberType, reportGeneralTypeIssues]
            clock.advance(1.25)
            await budget.acquire(deadline=clock() + 5)
            assert budget.shared
            assert await link.client.llen("back:window") == 1  # pyright: ignore[reportUnknownMemberType, reportGeneralTypeIssues]
        finally:
            await link.aclose()


async def test_a_throttle_seen_by_one_replica_makes_every_replica_stand_back() -> None:
    async with running_redis() as redis_server:
        links = [RedisLink(redis_server.url), RedisLink(redis_server.url)]
        first, second = (ThrottleCooldown(key="acct", link=link) for link in links)
        try:
            assert await second.remaining() == 0
            await first.start(30)
            assert 29 < await second.remaining() <= 30
            await second.start(5)  # a shorter cooldown never cuts a longer one short
            assert await first.remaining() > 29
            with pytest.raises(RateLimitedError, match="standing back"):
                await second.wait(deadline=time.monotonic() + 1)
            assert all(link.healthy for link in links)
        finally:
            for link in links:
                await link.aclose()


async def test_an_answer_from_redis_lives_no_longer_than_redis_keeps_it() -> None:
    clock = FakeClock()
    pending = parse_status(
        {"TaskStatus": {"Status": "In-Queue"}}, request_id=SAMPLES["in_queue"].request_id
    )
    async with running_redis() as redis_server:
        links = [RedisLink(redis_server.url), RedisLink(redis_server.url)]
        ttls = CacheTtls(final=1000, error_status=60, pending=5)
        writer = ResultCache(ttls, key="acct", link=links[0], clock=clock)
        reader = ResultCache(ttls, key="acct", link=links[1], clock=clock)
        try:
            await writer.put(pending)
            await links[1].client.pexpire(f"acct:status:{pending.request_id}", 1000)  # 1 s left
            assert await reader.get(pending.request_id) == pending
            assert reader.shared_hits == 1
            clock.advance(1.5)  # past what Redis had left, well within a full In-Queue TTL
            await links[1].client.delete(f"acct:status:{pending.request_id}")
            assert await reader.get(pending.request_id) is None
        finally:
            for link in links:
                await link.aclose()
