"""Stopping the watcher never cuts a database call in the middle (a clean shutdown)."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.lsq.client import CaptureStatusClient
from shared.service.capture_service import CaptureService
from shared.service.watcher import running_watcher
from shared.store import Claim

WITHIN = 10.0


class _SlowStore:
    """A store whose first claim of due watches waits until the test lets it finish."""

    clock = staticmethod(lambda: 1_000.0)

    def __init__(self) -> None:
        self.claiming = asyncio.Event()
        self.finish_claim = asyncio.Event()
        self.claims_finished = 0
        self.released: list[str] = []

    async def claim_due(self, owner: str, **_: Any) -> list[Claim]:
        self.claiming.set()
        await self.finish_claim.wait()
        self.claims_finished += 1
        return []

    async def claim_deliveries(self, owner: str, **_: Any) -> list[Any]:
        return []

    async def purge(self, **_: Any) -> int:
        return 0

    async def next_due_at(self) -> float | None:
        return None

    async def release(self, owner: str) -> None:
        self.released.append(owner)


async def test_leaving_lets_the_step_in_hand_finish_then_gives_the_leases_back(
    make_client: Any,
) -> None:
    client: CaptureStatusClient = make_client()
    service = CaptureService.for_client(client)
    store = _SlowStore()
    service.store = store  # pyright: ignore[reportAttributeAccessIssue]
    entered = asyncio.Event()
    leave = asyncio.Event()

    async def run() -> None:
        async with running_watcher(service) as watcher:
            assert watcher is not None
            entered.set()
            await leave.wait()

    task = asyncio.create_task(run())
    async with asyncio.timeout(WITHIN):
        await entered.wait()
        await store.claiming.wait()  # the watcher is in the middle of a database call
    leave.set()  # the block is left while the claim is still on its way
    store.finish_claim.set()
    async with asyncio.timeout(WITHIN):
        await task
    assert store.claims_finished == 1  # finished, not cut in the middle
    assert len(store.released) == 1
