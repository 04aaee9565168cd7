"""Two replicas on one store and one Redis: a client listening on one hears about the watch
the other finished (a real redis-server, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from mcp import Client
from mcp.server.subscriptions import ResourceUpdated
from pydantic import SecretStr
from starlette.applications import Starlette

from mcp_server.server import CaptureServer
from shared.simulator import Simulator
from tests.conftest import FakeClock
from tests.mcp_server.conftest import PROCESSING_SECONDS, capture_body, make_settings
from tests.mcp_server.watching import SteppedWatchers, migrated, request_uri, watched_server
from tests.redis_server import RedisServer, running_redis

WITHIN = 10.0


@pytest.fixture
async def redis_server() -> AsyncGenerator[RedisServer]:
    async with running_redis() as server:
        yield server


async def subscribed(*servers: CaptureServer) -> None:
    """Wait until each replica listens to Redis (it hears its own events through it too)."""
    async with asyncio.timeout(WITHIN):
        for server in servers:
            await server.bus.broadcast.subscribed.wait()


async def test_a_client_listening_on_one_replica_hears_the_watch_another_replica_finished(
    database_url: str,
    redis_server: RedisServer,
    sim_app: Starlette,
    sim: Simulator,
    sim_clock: FakeClock,
) -> None:
    settings = make_settings(redis_url=SecretStr(redis_server.url))
    watchers_a, watchers_b = SteppedWatchers(), SteppedWatchers()
    await migrated(database_url)
    replica_a, replica_b = (
        watched_server(database_url, sim_app, sim_clock, watchers, settings=settings, migrate=False)
        for watchers in (watchers_a, watchers_b)
    )
    rid = sim.submit(capture_body())
    uri = request_uri(rid)
    async with (
        Client(replica_a) as on_a,
        Client(replica_b) as on_b,
        on_a.listen(resource_subscriptions=[uri]) as stream,
    ):
        await subscribed(replica_a, replica_b)
        await on_b.list_tools()
        async with asyncio.timeout(WITHIN):
            await watchers_b.started.wait()
        sim_clock.advance(PROCESSING_SECONDS)
        assert await watchers_b.step() == 2  # B checks the watch A started, and announces it
        async with asyncio.timeout(WITHIN):
            assert await anext(stream) == ResourceUpdated(uri=uri)
        assert watchers_a.watcher.stats.checks == 0  # A's watcher did nothing
        assert watchers_b.watcher.stats.notices_sent == 1


async def test_a_replica_whose_redis_subscription_came_back_tells_its_streams_to_refetch(
    database_url: str,
    redis_server: RedisServer,
    sim_app: Starlette,
    sim: Simulator,
    sim_clock: FakeClock,
) -> None:
    settings = make_settings(redis_url=SecretStr(redis_server.url))
    watchers = SteppedWatchers()
    replica = watched_server(database_url, sim_app, sim_clock, watchers, settings=settings)
    uri = request_uri(sim.submit(capture_body()))
    async with Client(replica) as client, client.listen(resource_subscriptions=[uri]) as stream:
        await subscribed(replica)
        redis_server.restart()  # events published meanwhile by other replicas are lost
        async with asyncio.timeout(WITHIN):
            assert await anext(stream) == ResourceUpdated(uri=uri)
        assert replica.bus.broadcast.gaps == 1
