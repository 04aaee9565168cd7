"""The call budget towards LeadSquared and the cooldown after a throttle.

LeadSquared allows 25 calls per 5 s per account, shared with every other integration of that
account. :class:`RateBudget` keeps this process (or, with Redis storage, every replica) inside
a moving window with the ``limits`` library; :class:`ThrottleCooldown` makes every caller
stand back after LeadSquared throttled us once, instead of hammering it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import MemoryStorage as SyncMemoryStorage
from limits.strategies import MovingWindowRateLimiter as SyncMovingWindowRateLimiter

from shared.errors import RateLimitedError
from shared.guard.redis_link import RedisLink, ceil_ms

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

    def __init__(self, calls: int, seconds: int, guard: float) -> None:
        super().__init__(calls, seconds, namespace="capture-status")
        self._expiry = seconds + guard

    def get_expiry(self) -> int:
        # limits compares entry times against this value arithmetically; a float is exact.
        return self._expiry  # pyright: ignore[reportReturnType]


class RateBudget:
    """At most ``calls`` upstream calls in any ``seconds``-long moving window.

    With a :class:`~shared.guard.redis_link.RedisLink` the window lives in Redis and every replica
    draws on it; while Redis is unreachable this replica falls back to a local window of
    ``fallback_calls`` (its share of the budget) and returns to Redis once it answers again.

    Args:
        calls: calls allowed per window (already reduced by any headroom).
        seconds: the window length.
        key: the account key (see :func:`account_key`).
        guard_seconds: how much longer than ``seconds`` each call is counted (arrival
            jitter between this process and LeadSquared).
        link: Redis, to share the window across processes.
        fallback_calls: this replica's share while Redis is down (default: all ``calls``).
        clock: the monotonic clock deadlines are measured on (injectable).
        sleep: how to wait (injectable for tests).
    """

    def __init__(
        self,
        calls: int,
        seconds: int,
        *,
        key: str,
        guard_seconds: float = 0.25,
        link: RedisLink | None = None,
        fallback_calls: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.calls = calls
        self.seconds = seconds
        self._key = key
        self._link = link
        self._shared_item = _GuardedWindow(calls, seconds, guard_seconds)
        self._shared: MovingWindowRateLimiter | None = None
        if link is not None:
            from shared.guard.redis_window import GuardedRedisStorage  # only with REDIS_URL

            storage = GuardedRedisStorage("async+" + link.url.removeprefix("async+"), link.client)
            self._shared = MovingWindowRateLimiter(storage)
            local_calls = max(1, min(fallback_calls or calls, calls))
        else:
            local_calls = calls
        self._local_item = _GuardedWindow(local_calls, seconds, guard_seconds)
        self._window_seconds = seconds + guard_seconds
        # Half the guard for the wait between the grant and the send (pool, connect), half
        # for the trip from the wire to LeadSquared.
        self._send_slack = max(guard_seconds / 2, _SEND_SLACK_FLOOR)
        self._queue = asyncio.Lock()
        self._local_blocked_until = 0.0
        self._last_used_shared = link is not None
        # The synchronous in-memory limiter: its calls never block, and unlike limits'
        # asyncio MemoryStorage it does not hop to a worker thread on every hit (measured:
        # ~170 us a lookup, half of the client's whole overhead).
        self._local = SyncMovingWindowRateLimiter(InlineExpiryMemoryStorage())
        self._clock = clock
        self._sleep = sleep
        self.waited_seconds_total = 0.0
        self.waits = 0
        #: calls whose request left so long after its grant that they took a second slot
        self.late_sends = 0

    @property
    def shared(self) -> bool:
        """True while the window in use is the one every replica shares."""
        return self._link is not None and self._link.healthy

    async def _try_once(self) -> float | None:
        """Take a slot if one is free now; else the seconds until one may be."""
        if self._shared is not None and self._link is not None and self._link.should_try():
            started = self._link.now()
            try:
                if await self._shared.hit(self._shared_item, self._key):
                    self._link.mark_up(started)
                    self._last_used_shared = True
                    return None
                stats = await self._shared.get_window_stats(self._shared_item, self._key)
                self._link.mark_up(started)
                self._last_used_shared = True
                return max(stats.reset_time - time.time(), _POLL_FLOOR)
            except StorageError as error:
                self._link.mark_down(error)
        if self._last_used_shared:
            # Just lost the shared window (whoever noticed the outage first: this budget, the
            # cache or the cooldown). It may be full right now and this replica cannot see
            # it: start the local share only once a whole window has passed.
            self._last_used_shared = False
            self._local_blocked_until = self._clock() + self._window_seconds
        blocked = self._local_blocked_until - self._clock()
        if blocked > 0:
            return blocked
        if self._local.hit(self._local_item, self._key):
            return None
        stats = self._local.get_window_stats(self._local_item, self._key)
        return max(stats.reset_time - time.time(), _POLL_FLOOR)

    async def acquire(self, *, deadline: float, request_id: str | None = None) -> float:
        """Take one slot, waiting for one to free up but never past ``deadline``.

        Args:
            deadline: the ``clock()`` value after which waiting is pointless.
            request_id: for error messages.

        Returns:
            The seconds spent waiting.

        Raises:
            RateLimitedError: the next free slot lies beyond the deadline (retry_after says
                when one frees up).
        """
        if not self._queue.locked():  # nobody is waiting: try straight away
            wait = await self._try_once()
            if wait is None:
                return 0.0
        else:
            wait = self._window_seconds  # a bound, for the message if the deadline hits first
        # Waiters queue up (asyncio.Lock is first come, first served): only the head of the
        # queue polls the window, instead of every waiter waking at each reset.
        started = self._clock()
        try:
            await asyncio.wait_for(self._queue.acquire(), max(deadline - started, 0.0))
        except TimeoutError:
            raise self._busy(request_id, wait) from None
        try:
            while True:
                wait = await self._try_once()
                if wait is None:
                    waited = self._clock() - started
                    self.waited_seconds_total += waited
                    self.waits += 1
                    return waited
                if self._clock() + wait > deadline:
                    raise self._busy(request_id, wait)
                await self._sleep(wait)
        finally:
            self._queue.release()

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
            f"{self.calls} calls per {self.seconds} s and no slot frees up in time. "
            f"Try again in about {math.ceil(wait)} s.",
            request_id=request_id,
            retry_after=wait,
        )


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
