"""A watcher stopped while it delivers a notice finishes that delivery and records it before it
gives its leases up: another replica does not send the notice again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import DeliveryResult, WatchNotice
from shared.service.watcher import Watcher
from shared.service.watching import WatchSettings
from shared.simulator import Simulator, SimulatorConfig, create_app
from shared.store import NewSubscriber, WatchStore
from tests.conftest import SIM_KEY, FakeClock, fast_options
from tests.databases import open_test_store

from .test_watching import PERSON, capture_body

PROCESSING = 60.0


@dataclass
class SlowNotifier:
    """Tells the person at once, then waits (a slow answer from Slack) until let go."""

    told: list[WatchNotice] = field(default_factory=list[WatchNotice])
    telling: asyncio.Event = field(default_factory=asyncio.Event)
    let_go: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        self.told.append(notice)
        self.telling.set()
        await self.let_go.wait()
        return DeliveryResult("sent")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def app(clock: FakeClock) -> Starlette:
    return create_app(SimulatorConfig(api_key=SIM_KEY, clock=clock, processing_seconds=PROCESSING))


@pytest.fixture
async def store(database_url: str, clock: FakeClock) -> AsyncIterator[WatchStore]:
    async with open_test_store(database_url, clock=clock) as opened:
        yield opened


@pytest.fixture
async def service(
    app: Starlette, clock: FakeClock, store: WatchStore
) -> AsyncIterator[CaptureService]:
    client = CaptureStatusClient(
        fast_options(refresh_floor_seconds=0.0),
        SecretStr(SIM_KEY),
        transport=in_process_transport(app),
    )
    one = CaptureService.for_client(client)
    settings = WatchSettings(policy=WatchPolicy(poll_seconds=0.05))
    async with client:
        yield CaptureService(
            one.accounts, {"default": client}, store=store, watch_settings=settings, clock=clock
        )


async def test_a_watcher_stopped_mid_delivery_records_it_and_no_replica_sends_it_again(
    service: CaptureService, store: WatchStore, app: Starlette, clock: FakeClock
) -> None:
    sim: Simulator = app.state.simulator
    subscriber = NewSubscriber(kind="test", principal="slack:T1:U1", scope="slack:T1")
    await service.watch(sim.submit(capture_body()), subscriber=subscriber, caller=PERSON)
    clock.advance(PROCESSING + 1)  # final: the next check ends the watch
    slow = SlowNotifier()
    first = Watcher(service, store, notifiers={"test": slow}, clock=clock, owner="first")
    running = asyncio.create_task(first.run())

    async with asyncio.timeout(10):
        await slow.telling.wait()  # the person is being told right now
    running.cancel()  # the replica stops (SIGTERM, a deploy) before Slack answered
    slow.let_go.set()
    async with asyncio.timeout(10):
        with pytest.raises(asyncio.CancelledError):
            await running

    [sent] = await store.subscriptions("slack:T1:U1", states=("sent",))
    assert sent.attempts == 1
    again = SlowNotifier()
    again.let_go.set()
    second = Watcher(service, store, notifiers={"test": again}, clock=clock, owner="second")
    clock.advance(3600)  # long after any lease
    assert await second.deliver_due() == 0
    assert again.told == []
    assert len(slow.told) == 1
