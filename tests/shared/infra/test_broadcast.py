"""Broadcast: messages reach every replica's listeners through a real Redis, or stay local."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import pytest

from shared import Broadcast
from tests.redis_server import RedisServer, running_redis

CHANNEL = "capture-status:test"
WITHIN = 10.0


class Heard:
    """A listener: every message it heard, and an event per count reached."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._counts: dict[int, asyncio.Event] = {}

    def __call__(self, message: str) -> None:
        self.messages.append(message)
        for count, event in self._counts.items():
            if len(self.messages) >= count:
                event.set()

    async def at_least(self, count: int) -> list[str]:
        event = self._counts.setdefault(count, asyncio.Event())
        if len(self.messages) >= count:
            event.set()
        async with asyncio.timeout(WITHIN):
            await event.wait()
        return self.messages


@pytest.fixture
async def redis_server() -> AsyncGenerator[RedisServer]:
    async with running_redis() as server:
        yield server


@contextlib.asynccontextmanager
async def started(broadcast: Broadcast) -> AsyncGenerator[Broadcast]:
    await broadcast.start()
    try:
        if broadcast.shared:
            async with asyncio.timeout(WITHIN):
                await broadcast.subscribed.wait()
        yield broadcast
    finally:
        await broadcast.aclose()


async def test_without_redis_a_message_reaches_every_listener_of_the_process_once() -> None:
    broadcast = Broadcast(channel=CHANNEL)
    first, second = Heard(), Heard()
    broadcast.subscribe(first)
    stop = broadcast.subscribe(second)
    async with started(broadcast):
        assert await broadcast.publish("one") is True
        stop()
        assert await broadcast.publish("two") is True
    assert first.messages == ["one", "two"]
    assert second.messages == ["one"]


async def test_a_failing_listener_does_not_keep_the_message_from_the_others() -> None:
    broadcast = Broadcast(channel=CHANNEL)

    def broken(_: str) -> None:
        raise RuntimeError("listener bug")

    heard = Heard()
    broadcast.subscribe(broken)
    broadcast.subscribe(heard)
    assert await broadcast.publish("one") is True
    assert heard.messages == ["one"]


async def test_through_redis_every_replica_hears_every_message_once(
    redis_server: RedisServer,
) -> None:
    heard = [Heard(), Heard()]
    replicas = [Broadcast(redis_server.url, channel=CHANNEL) for _ in heard]
    for replica, listener in zip(replicas, heard, strict=True):
        replica.subscribe(listener)
    async with started(replicas[0]), started(replicas[1]):
        assert await replicas[0].publish("from the first") is True
        assert await replicas[1].publish("from the second") is True
        for listener in heard:
            assert sorted(await listener.at_least(2)) == ["from the first", "from the second"]
        # a third message proves nothing more was on its way
        assert await replicas[0].publish("last") is True
        for listener in heard:
            assert (await listener.at_least(3))[-1] == "last"
            assert len(listener.messages) == 3


async def test_while_redis_is_down_a_message_reaches_this_replica_only_and_says_so(
    redis_server: RedisServer,
) -> None:
    broadcast = Broadcast(redis_server.url, channel=CHANNEL, retry_seconds=0.05)
    heard = Heard()
    broadcast.subscribe(heard)
    async with started(broadcast):
        redis_server.kill()
        assert await broadcast.publish("while down") is False
        assert heard.messages == ["while down"]


async def test_a_subscription_that_came_back_reports_the_gap_and_hears_again(
    redis_server: RedisServer,
) -> None:
    gaps = asyncio.Event()
    broadcast = Broadcast(redis_server.url, channel=CHANNEL, on_gap=gaps.set, retry_seconds=0.05)
    heard = Heard()
    broadcast.subscribe(heard)
    async with started(broadcast):
        redis_server.restart()
        async with asyncio.timeout(WITHIN):
            await gaps.wait()
        assert broadcast.gaps == 1
        assert broadcast.subscribed.is_set()
        assert await broadcast.publish("after the gap") is True
        assert await heard.at_least(1) == ["after the gap"]
