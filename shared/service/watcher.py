"""The watcher: a worker in each process that checks due watches and tells their subscribers.

Each bot and MCP process (and the CLI's ``watch``) runs one :class:`Watcher`. It loops:

1. **claim** due watches from the store, leased (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
   so replicas share the work and a replica killed at any moment loses nothing: its lease
   ends and another replica takes the watch;
2. **check** each through the budget's *watch* lane (people asking now go first; batches
   come after), and write the result fenced by the lease token;
3. **schedule** the next check from what is known (``WatchPolicy``): the watch's age, the
   queue's worst-case delay, the queue's order, LeadSquared's retry schedule for ERROR,
   and how many watches share the account's budget (routine checks stay within a share);
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

from shared.errors import (
    CaptureStatusError,
    RequestNotFoundError,
    UnknownAccountError,
    WatchUnavailableError,
)
from shared.guard.lanes import Caller
from shared.lsq.models import CaptureStatus, QueueMetrics, StatusKind
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import (
    DeliveryResult,
    Notifier,
    WatchNotice,
    describe_duration,
)
from shared.store import Claim, Delivery, WatchCounts, WatchStore

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
    step_failures: int = 0


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
        own_only: check only watches someone of ``notifiers``' kinds waits for.
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
        own_only: bool = False,
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
        self._own_only = own_only
        self._caller = Caller.watch(WATCHER_PRINCIPAL)
        self._wake = asyncio.Event()
        self._metrics: dict[str, tuple[float, QueueMetrics | None]] = {}
        self._floors: dict[str, tuple[float, float]] = {}
        self._delivering: set[asyncio.Future[None]] = set()
        self._store_down = False
        self._stopping = False
        self._last_purge = float("-inf")
        #: the store's figures (active, due, overdue watches; subscribers by state) as of
        #: the last refresh, every ``policy.counts_seconds``; ``None`` until the first one,
        #: and while the store is down. ``/metrics`` reads them (a scrape cannot await).
        self.counts: WatchCounts | None = None
        self._counts_at = float("-inf")

    @property
    def store_up(self) -> bool:
        """False from a step the store failed until one it answered (``/metrics``)."""
        return not self._store_down

    async def refresh_counts(self) -> WatchCounts:
        """Ask the store for its figures now, and keep them in :attr:`counts`.

        Raises:
            WatchUnavailableError: the store did not answer.
        """
        self.counts = await self.store.counts(overdue_after=self.policy.overdue_seconds)
        self._counts_at = self._clock()
        return self.counts

    def poke(self) -> None:
        """Look for due work now (a watch was added, or a notice became due here)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the step under way, then leave :meth:`run` (its leases given up).

        Stopping between steps, rather than cancelling one half-way, leaves no database
        transaction cut off (on SQLite a cut one can hold the file's lock until the
        connection is collected) and no notice sent but not recorded as sent.
        """
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Work until :meth:`stop` (or cancelled); on the way out, give up this replica's leases."""
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    done = await self.step()
                except Exception:  # a bug must not stop every watch of this process: log, go on
                    log.exception("the watcher's step failed; trying again shortly")
                    self.stats.step_failures += 1
                    done = 0
                if not done and not self._stopping:
                    await self._idle()
        finally:
            if self._delivering:  # a notice on its way is finished and recorded first
                with contextlib.suppress(Exception):
                    await asyncio.wait(
                        self._delivering, timeout=self.policy.lease_seconds / self._speed
                    )
            with contextlib.suppress(WatchUnavailableError, Exception):
                await asyncio.shield(self.store.release(self.owner))

    async def step(self) -> int:
        """Claim and check due watches once, then deliver due notices; how many of each."""
        try:
            claims = await self.store.claim_due(
                self.owner,
                limit=self.policy.claim_batch,
                lease_seconds=self.policy.lease_seconds,
                for_kinds=list(self.notifiers) if self._own_only else None,
            )
            if claims:
                await asyncio.gather(*(self._check(claim) for claim in claims))
            sent = await self.deliver_due()
            await self._housekeeping()
            if self._clock() - self._counts_at >= self.policy.counts_seconds:
                await self.refresh_counts()
        except WatchUnavailableError as error:
            self.counts = None  # unknown while the store is down (``store_up`` says why)
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
        handled = 0
        for delivery in deliveries:  # one at a time: notifiers pace their own medium
            if self._stopping:  # the rest go back to the store (release) for another replica
                break
            # the lease is renewed (fenced) before each send: a notice whose lease lapsed
            # while earlier ones were slow may already be another replica's, so it is skipped
            if not await self.store.renew_delivery(
                delivery, lease_seconds=self.policy.lease_seconds
            ):
                self.stats.lost_leases += 1
                continue
            await self._deliver(delivery)
            handled += 1
        return handled

    async def _idle(self) -> None:
        """Sleep until the next watch is due, ``poll_seconds`` at most, or until poked."""
        pause = self.policy.poll_seconds * (5 if self._store_down else 1)
        if not self._store_down:
            with contextlib.suppress(WatchUnavailableError):
                due = await self.store.next_due_at()
                if due is not None:
                    pause = min(pause, due - self._clock())
        # never spin: work that is due now but leased elsewhere is not ours to take yet
        pause = max(pause, _LEAST_IDLE_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=pause / self._speed)

    async def _check(self, claim: Claim) -> None:
        watch = claim.watch
        key = watch.key
        now = self._clock()
        try:
            client = self.service.client(key.account)
            # the schedule paces the checks: each reaches LeadSquared, even moments after a
            # person's lookup of the same id (the refresh floor is for Refresh buttons)
            status = await client.get_status(
                key.request_id, use_cache=False, caller=self._caller, refresh_floor=False
            )
        except UnknownAccountError:  # the account left this deployment's configuration
            await self._end_unknown_account(claim)
            return
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
        head = queued and await self.store.is_head(watch)
        next_at = self.policy.next_check_at(
            kind,
            now=self._clock(),
            created_at=watch.created_at,
            expires_at=watch.expires_at,
            error_since=error_since,
            metrics=await self._queue_metrics(key.account) if queued else None,
            head=head,
            routine_floor=await self._routine_floor(key.account),
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
            if kind is StatusKind.ERROR and watch.last_status != StatusKind.ERROR.value:
                # processed (LeadSquared retries it on its own schedule): it left the queue,
                # so the watches behind it move up as after a final
                later = self._clock()
                await self.store.pull_forward(
                    watch, now=later, next_at=later + self.policy.next_after_final_seconds
                )
                self.poke()
            await self._report(claim, status, None, None, next_at)
        else:
            self.stats.lost_leases += 1

    async def _failed_check(self, claim: Claim, error: CaptureStatusError, now: float) -> None:
        watch = claim.watch
        self.stats.check_failures += 1
        if isinstance(error, RequestNotFoundError):  # the id is unknown: retrying cannot help
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

    async def _end_unknown_account(self, claim: Claim) -> None:
        """A watch of an account this process no longer knows: let a process that knows it
        check it (another replica may be on a newer configuration), and end it at expiry."""
        watch = claim.watch
        if self._clock() >= watch.expires_at:
            if await self.store.finish(claim, "failed", status=None, view_json=None):
                self.stats.ended += 1
                await self._report(claim, None, None, "failed", None)
            return
        await self.store.reschedule(
            claim,
            status=watch.last_status,
            next_check_at=min(self._clock() + self.policy.max_seconds, watch.expires_at),
            error_since=watch.error_since,
            failures=watch.failures + 1,
            checked=False,
        )

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

    async def _routine_floor(self, account: str) -> float:
        """The account's routine-check floor, counted at most every ``metrics_seconds``."""
        now = self._clock()
        cached = self._floors.get(account)
        if cached is not None and now - cached[0] < self.policy.metrics_seconds:
            return cached[1]
        floor = await self.service.routine_floor(account)
        self._floors[account] = (now, floor)
        return floor

    async def _deliver(self, delivery: Delivery) -> None:
        # A delivery is never cut off half-way (this replica stopping, a cancelled step):
        # the person may have been told already, and a delivery given up before its outcome
        # is recorded would be sent again by another replica. It runs to its end, shielded,
        # and ``run`` waits for it before giving this replica's leases up.
        task = asyncio.ensure_future(self._deliver_and_record(delivery))
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)
        await asyncio.shield(task)

    async def _deliver_and_record(self, delivery: Delivery) -> None:
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
        abandoned = await self.store.abandon_deliveries(
            due_before=now - self.policy.abandon_notices_seconds
        )
        if abandoned:
            log.warning(
                "%d notices waited %s for a process able to deliver them (a CLI that was "
                "stopped, or no Slack app or MCP server running): given up",
                abandoned,
                describe_duration(self.policy.abandon_notices_seconds),
            )
        purged = await self.store.purge(ended_before=now - self.policy.keep_ended_seconds)
        if purged:
            log.info("deleted %d watches that ended long ago", purged)


#: the shortest sleep of a watcher that found nothing to do (it never spins)
_LEAST_IDLE_SECONDS = 0.05
#: deliveries of one notice tried at most (then it fails for good, logged)
_MAX_ATTEMPTS = 5
#: seconds the step under way may take to finish when the watcher stops (then it is cancelled)
_STOP_GRACE_SECONDS = 5.0


@contextlib.asynccontextmanager
async def running_watcher(
    service: CaptureService,
    *,
    notifiers: Mapping[str, Notifier] | None = None,
    on_check: OnCheck | None = None,
    own_only: bool = False,
) -> AsyncGenerator[Watcher | None]:
    """Run a :class:`Watcher` for ``service`` in the background while the block runs.

    ``own_only``: check only the watches someone of ``notifiers``' kinds waits for (a CLI
    following its own ids never checks, nor ends, the Slack app's or MCP server's watches).

    Yields ``None`` when the service has no store (nothing to watch). On the way out the
    watcher finishes the step under way (cancelled if it takes more than a few seconds),
    and its leases are given up for other replicas.
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
        own_only=own_only,
    )
    task = asyncio.create_task(watcher.run(), name="capture-status watcher")
    try:
        yield watcher
    finally:
        watcher.stop()  # the step under way ends cleanly; one stuck longer is cancelled
        try:
            async with asyncio.timeout(_STOP_GRACE_SECONDS):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
