"""The watcher: a worker in each process that checks due watches and tells their subscribers.

Each bot and MCP process (and the CLI's ``watch``) runs one :class:`Watcher`. It loops:

1. **claim** due watches from the store, leased (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
   so replicas share the work and a replica killed at any moment loses nothing: its lease
   ends and another replica takes the watch;
2. **check** each through the budget's *watch* lane (people asking now go first; batches
   come after), and write the result fenced by the lease token;
3. **schedule** the next check from what is known (``WatchPolicy``): the watch's age, the
   queue's worst-case delay, the queue's order, LeadSquared's retry schedule for ERROR;
4. when the status is final (or the watch expired, or the id turned out not to exist),
   **end** the watch and **deliver** the notices this process can deliver (its front door's
   :class:`~shared.service.watch_views.Notifier` for each subscriber kind), each under its
   own lease so that it is sent once.

It sleeps until the next watch is due (at most ``poll_seconds``, so watches added by other
replicas are seen), or until :meth:`Watcher.poke` wakes it. A store that fails is logged
once and retried; the watcher never dies of it, and lookups never depend on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from shared.errors import CaptureStatusError, WatchUnavailableError
from shared.guard.lanes import Caller
from shared.lsq.models import CaptureStatus, QueueMetrics, StatusKind
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import DeliveryResult, Notifier, WatchNotice
from shared.store import Claim, Delivery, WatchStore

__all__ = ["WatchCheck", "Watcher", "WatcherStats", "replica_name", "running_watcher"]

log = logging.getLogger(__name__)

#: the budget principal of every watch check (one lane, one principal: checks take turns
#: with each other, below people and above batches)
WATCHER_PRINCIPAL = "watcher"


@dataclass(frozen=True, slots=True)
class WatchCheck:
    """One check the watcher made (for live displays such as the CLI's ``watch``).

    Attributes:
        watch_id: the watch checked.
        request_id: its RequestId.
        account: its account.
        status: the status seen (``None``: the check failed).
        error: why the check failed, when it did.
        ended: how the watch ended with this check (``None``: it goes on).
        next_check_at: when it is checked next (``None`` once it ended).
    """

    watch_id: int
    request_id: str
    account: str
    status: CaptureStatus | None
    error: CaptureStatusError | None
    ended: str | None
    next_check_at: float | None


@dataclass(slots=True)
class WatcherStats:
    """What one watcher did (``/metrics``, benchmarks)."""

    checks: int = 0
    check_failures: int = 0
    lost_leases: int = 0
    ended: int = 0
    notices_sent: int = 0
    notices_failed: int = 0
    notices_retried: int = 0
    store_failures: int = 0


OnCheck = Callable[[WatchCheck], Awaitable[None]]


def replica_name() -> str:
    """A name for this process's leases: host, pid and a random part (never reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Watcher:
    """Checks due watches and delivers notices; one per process.

    Args:
        service: the process's service (its clients, budgets and redaction).
        store: the store of watches.
        notifiers: the notifiers of this process, by subscriber kind (``slack``, ``mcp``,
            ``cli:<instance>``); notices of other kinds are left to processes that have one.
        policy: schedule, leases and batch sizes.
        owner: the name of this replica's leases (default: host, pid and a random part).
        clock: wall-clock seconds, the store's clock too (benchmarks accelerate it).
        speed: seconds of ``clock`` per real second (benchmarks run faster clocks).
        on_check: awaited after every check (live displays).
    """

    def __init__(
        self,
        service: CaptureService,
        store: WatchStore,
        *,
        notifiers: Mapping[str, Notifier] | None = None,
        policy: WatchPolicy | None = None,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        speed: float = 1.0,
        on_check: OnCheck | None = None,
    ) -> None:
        self.service = service
        self.store = store
        self.notifiers = dict(notifiers or {})
        self.policy = policy or service.watch_policy
        self.owner = owner or replica_name()
        self.stats = WatcherStats()
        self._clock = clock
        self._speed = speed
        self._on_check = on_check
        self._caller = Caller.watch(WATCHER_PRINCIPAL)
        self._wake = asyncio.Event()
        self._metrics: dict[str, tuple[float, QueueMetrics | None]] = {}
        self._store_down = False
        self._last_purge = float("-inf")
        self._stopping = False

    def poke(self) -> None:
        """Look for due work now (a watch was added, or a notice became due here)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the step in hand, then return from :meth:`run` (a clean shutdown: no
        database call is cut in the middle)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Work until stopped or cancelled; on the way out, give up this replica's leases."""
        try:
            while not self._stopping:
                self._wake.clear()
                done = await self.step()
                if not done and not self._stopping:
                    await self._idle()
        finally:
            with contextlib.suppress(WatchUnavailableError, Exception):
                await asyncio.shield(self.store.release(self.owner))

    async def step(self) -> int:
        """Claim and check due watches once, then deliver due notices; how many of each."""
        try:
            claims = await self.store.claim_due(
                self.owner, limit=self.policy.claim_batch, lease_seconds=self.policy.lease_seconds
            )
            if claims:
                await asyncio.gather(*(self._check(claim) for claim in claims))
            sent = await self.deliver_due()
            await self._housekeeping()
        except WatchUnavailableError as error:
            self.stats.store_failures += 1
            if not self._store_down:
                log.warning("watches paused: %s", error.message)
                self._store_down = True
            return 0
        if self._store_down:
            log.info("watches resumed: the store answers again")
            self._store_down = False
        return len(claims) + sent

    async def deliver_due(self) -> int:
        """Deliver the notices of this process's kinds that are due; how many were handled."""
        if not self.notifiers:
            return 0
        deliveries = await self.store.claim_deliveries(
            self.owner,
            kinds=list(self.notifiers),
            limit=self.policy.claim_batch,
            lease_seconds=self.policy.lease_seconds,
        )
        for delivery in deliveries:  # one at a time: notifiers pace their own medium
            await self._deliver(delivery)
        return len(deliveries)

    async def _idle(self) -> None:
        """Sleep until the next watch is due, ``poll_seconds`` at most, or until poked."""
        pause = self.policy.poll_seconds * (5 if self._store_down else 1)
        if not self._store_down:
            with contextlib.suppress(WatchUnavailableError):
                due = await self.store.next_due_at()
                if due is not None:
                    pause = max(0.0, min(pause, due - self._clock()))
        if pause <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=pause / self._speed)

    async def _check(self, claim: Claim) -> None:
        watch = claim.watch
        key = watch.key
        now = self._clock()
        try:
            client = self.service.client(key.account)
            status = await client.get_status(key.request_id, use_cache=False, caller=self._caller)
        except CaptureStatusError as error:
            await self._failed_check(claim, error, now)
            return
        self.stats.checks += 1
        view_json = self.service.watch_view_json(key.account, key.request_id, status=status)
        expired = self._clock() >= watch.expires_at
        if status.is_final or expired:
            end = "final" if status.is_final else "expired"
            if await self.store.finish(
                claim, end, status=status.task.status.value, view_json=view_json
            ):
                self.stats.ended += 1
                if status.is_final:
                    later = self._clock()
                    await self.store.pull_forward(
                        watch, now=later, next_at=later + self.policy.next_after_final_seconds
                    )
                await self._report(claim, status, None, end, None)
                self.poke()
            else:
                self.stats.lost_leases += 1
            return
        kind = status.task.status
        error_since = watch.error_since
        if kind is StatusKind.ERROR:
            error_since = error_since if error_since is not None else now
        else:
            error_since = None
        queued = kind is StatusKind.IN_QUEUE
        next_at = self.policy.next_check_at(
            kind,
            now=self._clock(),
            created_at=watch.created_at,
            expires_at=watch.expires_at,
            error_since=error_since,
            metrics=await self._queue_metrics(key.account) if queued else None,
            head=queued and await self.store.is_head(watch),
        )
        if await self.store.reschedule(
            claim,
            status=status.task.status.value,
            next_check_at=next_at,
            error_since=error_since,
            failures=0,
            checked=True,
            view_json=view_json,
        ):
            await self._report(claim, status, None, None, next_at)
        else:
            self.stats.lost_leases += 1

    async def _failed_check(self, claim: Claim, error: CaptureStatusError, now: float) -> None:
        watch = claim.watch
        self.stats.check_failures += 1
        if not error.retryable:  # e.g. the id is unknown: retrying cannot help
            view_json = self.service.watch_view_json(
                watch.key.account, watch.key.request_id, error=error
            )
            if await self.store.finish(claim, "failed", status=None, view_json=view_json):
                self.stats.ended += 1
                await self._report(claim, None, error, "failed", None)
                self.poke()
            return
        if self._clock() >= watch.expires_at:
            if await self.store.finish(claim, "expired", status=None, view_json=None):
                self.stats.ended += 1
                await self._report(claim, None, error, "expired", None)
                self.poke()
            return
        failures = watch.failures + 1
        next_at = self.policy.after_failure(
            failures, now=now, expires_at=watch.expires_at, retry_after=error.retry_after
        )
        if await self.store.reschedule(
            claim,
            status=watch.last_status,
            next_check_at=next_at,
            error_since=watch.error_since,
            failures=failures,
            checked=False,
        ):
            await self._report(claim, None, error, None, next_at)

    async def _queue_metrics(self, account: str) -> QueueMetrics | None:
        """The account's queue figures, asked at most every ``metrics_seconds``."""
        now = self._clock()
        cached = self._metrics.get(account)
        if cached is not None and now - cached[0] < self.policy.metrics_seconds:
            return cached[1]
        metrics = None
        with contextlib.suppress(CaptureStatusError):
            metrics = await self.service.client(account).get_metrics(caller=self._caller)
        self._metrics[account] = (now, metrics)
        return metrics

    async def _deliver(self, delivery: Delivery) -> None:
        notice = WatchNotice.of(delivery.subscriber)
        notifier = self.notifiers[delivery.subscriber.kind]
        try:
            result = await notifier.deliver(notice)
        except Exception:  # a notifier must not raise; if it does, try again later
            log.exception("the %s notifier failed", delivery.subscriber.kind)
            result = DeliveryResult("retry", detail="the notifier failed", retry_after=60.0)
        if result.outcome == "retry" and delivery.subscriber.attempts >= _MAX_ATTEMPTS:
            result = DeliveryResult(
                "failed", detail=f"gave up after {_MAX_ATTEMPTS} tries: {result.detail}"
            )
        retry_at = None
        if result.outcome == "retry":
            retry_at = self._clock() + (result.retry_after or 30.0)
        await self.store.record_delivery(
            delivery, result.outcome, detail=result.detail, retry_at=retry_at
        )
        if result.outcome == "sent":
            self.stats.notices_sent += 1
        elif result.outcome == "failed":
            self.stats.notices_failed += 1
            log.warning(
                "could not tell subscriber %s about %s (%s): the subscription ends",
                delivery.subscriber.id,
                notice.request_id,
                result.detail,
            )
        else:
            self.stats.notices_retried += 1

    async def _report(
        self,
        claim: Claim,
        status: CaptureStatus | None,
        error: CaptureStatusError | None,
        ended: str | None,
        next_check_at: float | None,
    ) -> None:
        if self._on_check is None:
            return
        watch = claim.watch
        await self._on_check(
            WatchCheck(
                watch_id=watch.id,
                request_id=watch.key.request_id,
                account=watch.key.account,
                status=status,
                error=error,
                ended=ended,
                next_check_at=next_check_at,
            )
        )

    async def _housekeeping(self) -> None:
        now = self._clock()
        if now - self._last_purge < 3600:
            return
        self._last_purge = now
        purged = await self.store.purge(ended_before=now - self.policy.keep_ended_seconds)
        if purged:
            log.info("deleted %d watches that ended long ago", purged)


#: deliveries of one notice tried at most (then it fails for good, logged)
_MAX_ATTEMPTS = 5
#: how long a stopping watcher may finish the step in hand before it is cancelled
_STOP_SECONDS = 5.0


@contextlib.asynccontextmanager
async def running_watcher(
    service: CaptureService,
    *,
    notifiers: Mapping[str, Notifier] | None = None,
    on_check: OnCheck | None = None,
) -> AsyncGenerator[Watcher | None]:
    """Run a :class:`Watcher` for ``service`` in the background while the block runs.

    Yields ``None`` when the service has no store (nothing to watch). On the way out the
    watcher finishes the step in hand (cancelled after a few seconds), and its leases are
    given up for other replicas.
    """
    if service.store is None:
        yield None
        return
    watcher = Watcher(
        service,
        service.store,
        notifiers=notifiers,
        clock=service.store.clock,
        on_check=on_check,
    )
    task = asyncio.create_task(watcher.run(), name="capture-status watcher")
    try:
        yield watcher
    finally:
        watcher.stop()
        try:
            await asyncio.wait({task}, timeout=_STOP_SECONDS)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
