"""The call budget towards LeadSquared and the cooldown after a throttle.

LeadSquared allows 25 calls per 5 s per account, shared with every other integration of that
account. :class:`RateBudget` keeps this process (or, with Redis storage, every replica) inside
a moving window with the ``limits`` library; :class:`ThrottleCooldown` makes every caller
stand back after LeadSquared throttled us once, instead of hammering it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage as SyncMemoryStorage
from limits.strategies import MovingWindowRateLimiter as SyncMovingWindowRateLimiter

from shared import defaults
from shared.errors import RateLimitedError
from shared.guard.lanes import ANONYMOUS, Caller, FairQueue, Lane, Ticket, Waiter
from shared.guard.redis_link import RedisLink, ceil_ms

if TYPE_CHECKING:
    from shared.guard.redis_window import SharedWindow

__all__ = ["InlineExpiryMemoryStorage", "RateBudget", "Sleep", "ThrottleCooldown", "account_key"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
#: how long to wait before looking at the window again when it cannot tell us
_POLL_FLOOR = 0.01
#: a granted slot covers a call sent at least this soon after, however small the guard
_SEND_SLACK_FLOOR = 0.01


#: the stock storage's private clean-up method, by its mangled name
_STOCK_EXPIRY: str = "_MemoryStorage__expire_events"


class InlineExpiryMemoryStorage(SyncMemoryStorage):
    """limits' in-memory storage, dropping expired entries inline instead of from a thread.

    The stock storage starts a ``threading.Timer`` on a hit whenever its last one has fired
    (10 ms after it started): with calls more than 10 ms apart, every call starts a thread
    (about 0.3 ms a lookup, measured). Here the same clean-up runs at most once a second, on
    the caller's own thread; the window itself never depended on it.
    """

    #: seconds between two clean-ups of expired entries
    EXPIRE_EVERY = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._next_expiry = 0.0

    # limits calls ``self.__schedule_expiry()``: its mangled name is what a subclass overrides
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_expiry:
            self._next_expiry = now + self.EXPIRE_EVERY
            expire: Callable[[], None] = object.__getattribute__(self, _STOCK_EXPIRY)
            expire()


def account_key(base_url: str, api_key: str) -> str:
    """A stable key for one LeadSquared account on one host, without the secret in it."""
    digest = hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()[:16]
    return f"capture-status:{digest}"


class _GuardedWindow(RateLimitItemPerSecond):
    """A moving window a little longer than LeadSquared's.

    The limiter stamps a call when its slot is granted; LeadSquared counts it when it
    arrives, a variable moment later. Counting each call for ``guard`` seconds more than the
    upstream window keeps that delay from pushing two windows' worth of calls into one, as
    long as the delay stays within the guard: a call whose request goes on the wire later
    than :meth:`RateBudget.covers` allows takes a fresh slot first (see the client).
    """

    __slots__ = ("_expiry",)

    def __init__(self, calls: int, seconds: float, guard: float) -> None:
        # limits names the window by whole seconds; the expiry below is the exact length
        super().__init__(calls, max(1, math.ceil(seconds)), namespace="capture-status")
        self._expiry = seconds + guard

    def get_expiry(self) -> int:
        # limits compares entry times against this value arithmetically; a float is exact.
        return self._expiry  # pyright: ignore[reportReturnType]


class RateBudget:
    """The budget scheduler of one account: at most ``calls`` upstream calls in any
    ``seconds``-long moving window, handed out by lane and by fair share.

    A caller that finds a free call takes it at once. Otherwise it queues in a
    :class:`~shared.guard.lanes.FairQueue` and one dispatcher hands out each call as it frees
    up: any waiter of a higher lane first, then round robin between the principals of a lane.
    The lower lanes (watch, bulk) are paced, one call per ``(seconds + guard) / calls``, so
    the calls they hold free up one at a time and a person waiting behind a batch waits for
    one of them, not for a whole window.

    With a :class:`~shared.guard.redis_link.RedisLink` the window lives in Redis and every
    replica draws on it (:class:`~shared.guard.redis_window.SharedWindow`): a replica with a
    higher lane's caller waiting claims the next calls, and the other replicas' lower lanes
    stand back. While Redis is unreachable this replica falls back to a local window of
    ``fallback_calls`` (its share of the budget) and returns to Redis once it answers again.

    Args:
        calls: calls allowed per window (already reduced by any headroom).
        seconds: the window length (benchmarks that run an accelerated clock shorten it).
        key: the account key (see :func:`account_key`).
        guard_seconds: how much longer than ``seconds`` each call is counted (arrival
            jitter between this process and LeadSquared).
        link: Redis, to share the window across processes.
        fallback_calls: this replica's share while Redis is down (default: all ``calls``).
        claimant: this process's name in the shared claims (default: host and pid).
        clock: the monotonic clock deadlines are measured on (injectable).
        sleep: how to wait (injectable for tests).
    """

    def __init__(
        self,
        calls: int,
        seconds: float,
        *,
        key: str,
        guard_seconds: float = defaults.RATE_WINDOW_GUARD_SECONDS,
        link: RedisLink | None = None,
        fallback_calls: int | None = None,
        claimant: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.calls = calls
        self.seconds = seconds
        self._key = key
        self._link = link
        self._window_seconds = seconds + guard_seconds
        self._shared: SharedWindow | None = None
        if link is not None:
            from shared.guard.redis_window import SharedWindow  # only with REDIS_URL

            self._shared = SharedWindow(
                link.client,
                key=key,
                claimant=claimant or _process_name(),
                limit=calls,
                expiry=self._window_seconds,
            )
            local_calls = max(1, min(fallback_calls or calls, calls))
        else:
            local_calls = calls
        self._local_item = _GuardedWindow(local_calls, seconds, guard_seconds)
        #: the pace of the lower lanes: one call per this many seconds
        self.spacing = self._window_seconds / calls
        self._local_spacing = self._window_seconds / local_calls
        self._last_paced = -math.inf
        # Half the guard for the wait between the grant and the send (pool, connect), half
        # for the trip from the wire to LeadSquared.
        self._send_slack = max(guard_seconds / 2, _SEND_SLACK_FLOOR)
        self._waiting = FairQueue()
        self._dispatcher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: the lane of the waiter the dispatcher is serving now (asking, or napping)
        self._serving_lane: Lane | None = None
        self._claimed: set[Lane] = set()
        self._next_free = 0.0
        self._local_blocked_until = 0.0
        self._last_used_shared = link is not None
        #: when this replica last took a call of its local share (Redis down)
        self._last_local_call = -math.inf
        # The synchronous in-memory limiter: its calls never block, and unlike limits'
        # asyncio MemoryStorage it does not hop to a worker thread on every hit (measured:
        # ~170 us a lookup, half of the client's whole overhead).
        self._local = SyncMovingWindowRateLimiter(InlineExpiryMemoryStorage())
        self._clock = clock
        self._sleep = sleep
        self.waited_seconds_total = 0.0
        self.waits = 0
        #: calls granted, by lane name
        self.granted_by_lane: Counter[str] = Counter()
        #: calls whose request left so long after its grant that they took a second slot
        self.late_sends = 0

    @property
    def shared(self) -> bool:
        """True while the window in use is the one every replica shares."""
        return self._link is not None and self._link.healthy

    @property
    def queued(self) -> int:
        """Callers waiting for a call right now."""
        return len(self._waiting)

    async def _try_once(self, lane: Lane) -> float | None:
        """Take a call for ``lane`` if one may go now; else the seconds until one may."""
        if self._shared is not None and self._link is not None and not self._last_used_shared:
            # Back from the local share: the shared window cannot see this replica's local
            # calls, so they must leave the window first. Once Redis is known to answer
            # again, no more local calls; until then, no probe that would take a shared call.
            hold = self._last_local_call + self._window_seconds - self._clock()
            if hold > 0 and self._link.healthy:
                return hold
            shared_now = hold <= 0 and self._link.should_try()
        else:
            shared_now = self._link is not None and self._link.should_try()
        if self._shared is not None and self._link is not None and shared_now:
            started = self._link.now()
            try:
                wait = await self._shared.take(lane, self.spacing if lane.paced else 0.0)
            except self._link.unavailable_errors as error:
                self._link.mark_down(error)
            else:
                self._link.mark_up(started)
                self._last_used_shared = True
                if wait is not None:
                    self._claimed.add(lane)  # the script recorded this replica's claim
                return wait
        if self._last_used_shared:
            # Just lost the shared window (whoever noticed the outage first: this budget, the
            # cache or the cooldown). It may be full right now and this replica cannot see
            # it: start the local share only once a whole window has passed.
            self._last_used_shared = False
            self._local_blocked_until = self._clock() + self._window_seconds
        now = self._clock()
        blocked = self._local_blocked_until - now
        if blocked > 0:
            return blocked
        if lane.paced and now < self._last_paced + self._local_spacing:
            return self._last_paced + self._local_spacing - now
        if self._local.hit(self._local_item, self._key):
            if lane.paced:
                self._last_paced = now
            self._last_local_call = now
            return None
        stats = self._local.get_window_stats(self._local_item, self._key)
        return max(stats.reset_time - time.time(), _POLL_FLOOR)

    async def acquire(
        self,
        *,
        deadline: float,
        request_id: str | None = None,
        caller: Caller = ANONYMOUS,
        ticket: Ticket | None = None,
    ) -> float:
        """Take one call for ``caller``, waiting for one to free up but never past ``deadline``.

        Args:
            deadline: the ``clock()`` value after which waiting is pointless.
            request_id: for error messages.
            caller: the lane and principal the call is for.
            ticket: the call's ticket when several lookups share it (its caller is used, and
                :meth:`promote` may raise its lane while it waits).

        Returns:
            The seconds spent waiting.

        Raises:
            RateLimitedError: no call frees up for this caller before the deadline
                (retry_after says when one may).
        """
        if ticket is not None:
            caller = ticket.caller
        if not self._waiting:  # nobody is waiting: try straight away
            wait = await self._try_once(caller.lane)
            if wait is None:
                self.granted_by_lane[caller.lane.label] += 1
                return 0.0
            self._next_free = self._clock() + wait
        waiter = Waiter(caller)
        self._waiting.push(waiter)
        if ticket is not None:
            ticket.waiter = waiter
        started = self._clock()
        expected = self._estimate(waiter)
        if started + expected > deadline:  # no call would come in time: say so at once
            waiter.granted.cancel()
            self._waiting.discard(waiter)
            if ticket is not None:
                ticket.waiter = None
            if self._dispatcher is None or self._dispatcher.done():
                await self._release_idle_claims()  # no claim outlives its last waiter
            raise self._busy(request_id, expected)
        self._start_dispatch(caller.lane)
        try:
            async with asyncio.timeout(max(deadline - started, 0.0)):
                await waiter.granted
        except TimeoutError:
            if not waiter.granted.cancelled() and waiter.granted.done():
                pass  # granted at the very moment the deadline passed: the call is ours
            else:
                raise self._busy(request_id, self._estimate(waiter)) from None
        finally:
            if ticket is not None:
                ticket.waiter = None
            if waiter.granted.cancelled():  # gave up (deadline, cancelled): out of the queue
                self._waiting.discard(waiter)
        waited = self._clock() - started
        self.waited_seconds_total += waited
        self.waits += 1
        self.granted_by_lane[waiter.caller.lane.label] += 1
        return waited

    def promote(self, ticket: Ticket, caller: Caller) -> None:
        """Someone joined the call of ``ticket``: raise it to ``caller``'s lane if higher."""
        if caller.lane >= ticket.caller.lane:
            return
        ticket.caller = caller
        waiter = ticket.waiter
        if waiter is not None and waiter.live:
            self._waiting.move(waiter, caller)
            self._start_dispatch(caller.lane)

    def _start_dispatch(self, lane: Lane) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(
                self._dispatch(), name="budget-dispatcher"
            )
        elif self._serving_lane is not None and lane < self._serving_lane:
            self._wake.set()  # a higher lane may go where the one being served may not

    async def _dispatch(self) -> None:
        """Hand out calls to the waiters, best first, until none is left."""
        try:
            while True:
                head = self._waiting.head()
                if head is None:
                    await self._release_idle_claims()
                    if self._waiting.head() is None:  # nobody came in meanwhile: done
                        return
                    continue
                self._wake.clear()
                self._serving_lane = head.caller.lane
                wait = await self._try_once(head.caller.lane)
                if wait is None:
                    # the best waiter now (a higher one may have come in meanwhile)
                    waiter = self._waiting.pop_head()
                    if waiter is not None:
                        waiter.granted.set_result(None)
                    await self._release_idle_claims()
                    continue
                self._next_free = self._clock() + wait
                await self._nap(wait)
        finally:
            self._serving_lane = None

    async def _nap(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a waiter of a higher lane comes in (``_wake``)."""
        if self._wake.is_set():  # one came in while the window was asked
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def _release_idle_claims(self) -> None:
        if not self._claimed or self._shared is None or self._link is None:
            return
        shared, waiting = self._shared, self._waiting.lanes_waiting()
        for lane in sorted(self._claimed - waiting):
            self._claimed.discard(lane)
            await self._link.run(lambda lane=lane: shared.release_claim(lane), None)

    def _estimate(self, waiter: Waiter) -> float:
        """Seconds until ``waiter`` would have had its call, roughly."""
        ahead = self._waiting.position(waiter)
        return max(self._next_free - self._clock(), 0.0) + ahead * self.spacing

    async def aclose(self) -> None:
        """Stop handing out calls (the waiters left get none)."""
        if self._dispatcher is not None and not self._dispatcher.done():
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher

    def covers(self, granted_at: float) -> bool:
        """Whether a slot granted at ``granted_at`` (a ``clock()`` value) still covers a call
        whose request goes on the wire now.

        A slot is stamped when granted; a request sent much later (a slow connect, a wait for
        a pooled connection) would reach LeadSquared in a later window than the one it was
        counted in, and with the next window's calls exceed the limit there.
        """
        return self._clock() - granted_at <= self._send_slack

    def _busy(self, request_id: str | None, wait: float) -> RateLimitedError:
        return RateLimitedError(
            f"capture-status is holding back to stay inside LeadSquared's limit of "
            f"{self.calls} calls per {self.seconds:g} s and no slot frees up in time. "
            f"Try again in about {math.ceil(wait)} s.",
            request_id=request_id,
            retry_after=wait,
        )


def _process_name() -> str:
    """This process among the replicas: host and pid (unique at any one time)."""
    return f"{socket.gethostname()}:{os.getpid()}"


_EXTEND_COOLDOWN = """
local wanted = tonumber(ARGV[1])
if redis.call('pttl', KEYS[1]) < wanted then
    redis.call('set', KEYS[1], '1', 'PX', wanted)
end
return 1
"""


class ThrottleCooldown:
    """After a throttle, every caller (in every replica, with Redis) waits until it ends.

    Args:
        key: the account key; the Redis key of the shared cooldown derives from it.
        link: Redis, to share the cooldown across processes.
        clock: a monotonic clock (injectable).
        sleep: how to wait (injectable).
    """

    def __init__(
        self,
        *,
        key: str = "capture-status",
        link: RedisLink | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._redis_key = f"{key}:cooldown"
        self._link = link
        self._clock = clock
        self._sleep = sleep
        self._until = 0.0
        self.started_total = 0

    async def remaining(self) -> float:
        """Seconds left in the current cooldown (0 when none)."""
        local = max(self._until - self._clock(), 0.0)
        if self._link is None:
            return local
        link = self._link

        async def shared() -> float:
            millis = int(await link.client.pttl(self._redis_key))
            return max(millis, 0) / 1000

        return max(local, await link.run(shared, 0.0))

    async def start(self, seconds: float) -> None:
        """Begin (or extend) a cooldown of ``seconds`` from now."""
        until = self._clock() + seconds
        if until > self._until:
            self._until = until
            self.started_total += 1
            log.warning("LeadSquared throttled us: every lookup waits %.1f s", seconds)
        if self._link is not None:
            link = self._link

            async def share() -> None:
                # One script, so it is atomic and needs no Redis 7 option (PEXPIRE GT): a
                # cooldown another replica started is only ever lengthened.
                await link.client.eval(  # pyright: ignore[reportUnknownMemberType]
                    _EXTEND_COOLDOWN, 1, self._redis_key, ceil_ms(seconds)
                )

            await link.run(share, None)

    async def wait(self, *, deadline: float, request_id: str | None = None) -> None:
        """Wait out the current cooldown, if any.

        Raises:
            RateLimitedError: the cooldown ends after ``deadline``.
        """
        remaining = await self.remaining()
        if remaining <= 0:
            return
        if self._clock() + remaining > deadline:
            raise RateLimitedError(
                "LeadSquared throttled this account a moment ago and capture-status is standing "
                f"back. Try again in about {math.ceil(remaining)} s.",
                request_id=request_id,
                retry_after=remaining,
            )
        await self._sleep(remaining)
