"""A watcher replica killed with SIGKILL, between checks or during one, on PostgreSQL: another
replica takes its watch over and the notice is sent exactly once.

Each replica is a real process (``python -m bench.watch_replica``: the core's ``Watcher``
with a notifier that appends every notice to a file and fsyncs it before the watcher records
it as sent). The simulator runs in this process on a loopback socket, behind a gate that can
hold one request's status call: so the test kills a replica at a moment it chooses, and
waits on events (the replicas' printed events, the gate), each wait bounded, never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from bench.watch_replica import KIND, read_deliveries
from shared.guard.lanes import Caller
from shared.lsq.client import CaptureStatusClient
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watching import WatchSettings
from shared.simulator import Simulator, SimulatorConfig, create_app
from shared.simulator.server import serve_simulator
from shared.store import NewSubscriber, WatchKey, WatchStore
from tests.conftest import SIM_KEY, FakeClock, fast_options
from tests.databases import open_test_store
from tests.databases import test_database_url as fresh_database_url

from .test_watching import capture_body

ROOT = Path(__file__).resolve().parents[3]
PROCESSING = 3600.0
#: short leases and pauses, so a takeover takes about a second (real time)
POLICY: dict[str, Any] = {
    "lease_seconds": 1.0,
    "poll_seconds": 0.1,
    "min_seconds": 0.2,
    "max_seconds": 1.0,
    "head_seconds": 0.2,
    "failure_seconds": 0.2,
    "next_after_final_seconds": 0.1,
}
#: the longest any one wait may take (a replica starting, a lease lapsing, a check)
BOUND = 30.0


class Gate:
    """ASGI middleware: holds the status calls of one RequestId until opened."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.request_id: str | None = None
        self.arrived = asyncio.Event()
        self.opened = asyncio.Event()

    def hold(self, request_id: str) -> None:
        """Hold the next status call of ``request_id``."""
        self.request_id = request_id.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = bytes(scope.get("query_string", b"")).decode().lower()
        if scope["type"] == "http" and self.request_id and self.request_id in query:
            self.request_id = None  # only that call: the next replica's goes through
            self.arrived.set()
            await self.opened.wait()
        await self.app(scope, receive, send)


class Replica:
    """One ``python -m bench.watch_replica`` process and its events."""

    def __init__(self, process: asyncio.subprocess.Process, deliveries: Path) -> None:
        self.process = process
        self.deliveries = deliveries
        self.events: list[dict[str, Any]] = []

    async def until(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event (printed from now on) that ``wanted`` accepts; bounded."""
        assert self.process.stdout is not None
        async with asyncio.timeout(BOUND):
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise AssertionError(f"the replica ended; events: {self.events}")
                event: dict[str, Any] = json.loads(line)
                self.events.append(event)
                if wanted(event):
                    return event

    async def kill(self) -> None:
        """SIGKILL: no clean-up, its leases stay until they lapse."""
        self.process.send_signal(signal.SIGKILL)
        async with asyncio.timeout(BOUND):
            assert await self.process.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            async with asyncio.timeout(BOUND):
                await self.process.wait()


class Scene:
    """PostgreSQL, the simulator behind its gate, a service that adds watches, replicas."""

    def __init__(
        self, url: str, sim_url: str, store: WatchStore, service: CaptureService, folder: Path
    ) -> None:
        self.url = url
        self.sim_url = sim_url
        self.store = store
        self.service = service
        self.folder = folder
        self.replicas: list[Replica] = []

    async def start_replica(self) -> Replica:
        deliveries = self.folder / f"deliveries-{len(self.replicas)}.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "DATABASE_"))}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.watch_replica",
            "--database-url",
            self.url,
            "--simulator-url",
            self.sim_url,
            "--api-key",
            SIM_KEY,
            "--deliveries",
            str(deliveries),
            "--policy",
            json.dumps(POLICY),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        replica = Replica(process, deliveries)
        self.replicas.append(replica)
        await replica.until(lambda e: e["event"] == "ready")
        return replica

    async def watch(self, rid: str) -> int:
        subscriber = NewSubscriber(
            kind=KIND, principal="slack:T1:U1", scope="slack:T1", target_key="dm"
        )
        view = await self.service.watch(
            rid, subscriber=subscriber, caller=Caller.interactive("slack:T1:U1")
        )
        assert view.watching
        watch = await self.store.watch_of(WatchKey("default", "opportunity_capture", rid))
        assert watch is not None
        return watch.id

    def deliveries(self) -> list[dict[str, Any]]:
        return read_deliveries(replica.deliveries for replica in self.replicas)


@pytest.fixture
def sim_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def simulator_app(sim_clock: FakeClock) -> Starlette:
    return create_app(
        SimulatorConfig(
            api_key=SIM_KEY,
            clock=sim_clock,
            processing_seconds=PROCESSING,
            rate_limit_calls=10_000,
        )
    )


@pytest.fixture
def gate(simulator_app: Starlette) -> Gate:
    return Gate(simulator_app)


@pytest.fixture
async def scene(postgres_admin_url: str, tmp_path: Path, gate: Gate) -> AsyncIterator[Scene]:
    async with (
        fresh_database_url("postgresql", postgres_admin_url, tmp_path) as url,
        open_test_store(url) as store,  # migrated once here, as the one-shot step does
        serve_simulator(gate) as sim_url,
    ):
        client = CaptureStatusClient(fast_options(base_url=sim_url), SecretStr(SIM_KEY))
        one = CaptureService.for_client(client)
        settings = WatchSettings(policy=WatchPolicy(**POLICY))
        service = CaptureService(
            one.accounts, {"default": client}, store=store, watch_settings=settings
        )
        scene = Scene(url, sim_url, store, service, tmp_path)
        try:
            yield scene
        finally:
            gate.opened.set()
            for replica in scene.replicas:
                await replica.stop()
            await client.aclose()


async def _told_once(scene: Scene, watch_id: int, rid: str) -> None:
    [delivery] = [d for d in scene.deliveries() if d["request_id"] == rid]
    assert (delivery["end"], delivery["status"]) == ("final", "Success")
    ended = await scene.store.get(watch_id)
    assert ended is not None
    assert ended.state == "final"
    [subscriber] = await scene.store.subscriptions("slack:T1:U1", states=("sent",))
    assert subscriber.attempts == 1  # delivered once, recorded as sent: never picked again


async def test_a_replica_killed_during_a_check_loses_nothing_and_the_notice_goes_once(
    scene: Scene, gate: Gate, simulator_app: Starlette, sim_clock: FakeClock
) -> None:
    sim: Simulator = simulator_app.state.simulator
    rid = sim.submit(capture_body(1))
    watch_id = await scene.watch(rid)
    gate.hold(rid)
    first = await scene.start_replica()

    async with asyncio.timeout(BOUND):
        await gate.arrived.wait()  # the first replica claimed the watch and is checking it
    await first.kill()
    sim_clock.advance(PROCESSING)  # final now
    gate.opened.set()  # the held call answers a process that is gone
    held = await scene.store.get(watch_id)
    assert held is not None
    assert held.state == "active"  # the dead replica's lease holds it
    second = await scene.start_replica()

    await second.until(lambda e: e["event"] == "delivered" and e["request_id"] == rid)
    assert not first.deliveries.exists()
    await _told_once(scene, watch_id, rid)


async def test_a_replica_killed_between_checks_loses_nothing_and_the_notice_goes_once(
    scene: Scene, simulator_app: Starlette, sim_clock: FakeClock
) -> None:
    sim: Simulator = simulator_app.state.simulator
    rid = sim.submit(capture_body(2))
    watch_id = await scene.watch(rid)
    first = await scene.start_replica()

    # it checked the request (still In-Queue) and wrote when to check next
    await first.until(lambda e: e["event"] == "check" and e["request_id"] == rid)
    assert first.events[-1]["status"] == "In-Queue"
    await first.kill()
    sim_clock.advance(PROCESSING)
    second = await scene.start_replica()

    await second.until(lambda e: e["event"] == "delivered" and e["request_id"] == rid)
    assert not first.deliveries.exists()
    await _told_once(scene, watch_id, rid)


async def test_two_replicas_share_the_work_and_one_killed_mid_check_costs_nothing(
    scene: Scene, gate: Gate, simulator_app: Starlette, sim_clock: FakeClock
) -> None:
    sim: Simulator = simulator_app.state.simulator
    ids = [sim.submit(capture_body(10 + n)) for n in range(6)]
    watched = {rid: await scene.watch(rid) for rid in ids}
    gate.hold(ids[0])
    replicas = [await scene.start_replica(), await scene.start_replica()]

    async with asyncio.timeout(BOUND):
        await gate.arrived.wait()
    # whichever replica made the held call is stuck in it: kill that one, mid-check
    holder = await _lease_holder_pid(scene, ids[0])
    victim = next(r for r in replicas if r.process.pid == holder)
    survivor = next(r for r in replicas if r is not victim)
    await victim.kill()
    sim_clock.advance(PROCESSING)
    gate.opened.set()

    told: set[str] = set()
    while told != set(ids):
        event = await survivor.until(lambda e: e["event"] == "delivered")
        told.add(event["request_id"])
    deliveries = scene.deliveries()
    assert sorted(d["request_id"] for d in deliveries) == sorted(ids)  # each once
    for rid, watch_id in watched.items():
        ended = await scene.store.get(watch_id)
        assert ended is not None
        assert ended.state == "final", rid


async def _lease_holder_pid(scene: Scene, rid: str) -> int:
    """The process id in the lease owner of ``rid``'s watch (``host:pid:random``)."""
    async with scene.store.engine.connect() as connection:
        owner = await connection.scalar(
            text("SELECT lease_owner FROM watches WHERE request_id = :rid"), {"rid": rid}
        )
    assert isinstance(owner, str), owner
    return int(owner.split(":")[1])
