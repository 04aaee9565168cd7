"""Sharing the budget, the cooldown and the cache between replicas through Redis.

Every replica of the Slack app and the MCP server calls LeadSquared for the same account,
whose limit they share. With ``REDIS_URL`` set they draw on one moving window (``limits``
with its Redis storage: check-and-insert is one Lua script, atomic across processes), one
throttle cooldown and one result cache.

When Redis is unreachable a replica does not stop answering: :class:`RedisLink` notices,
logs loudly once, and the callers fall back to their local state (the budget to this
replica's share of it) until a probe finds Redis again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import redis.asyncio as redis

__all__ = ["RedisLink", "ceil_ms"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class RedisLink:
    """One Redis connection with a memory of whether Redis is reachable.

    Args:
        url: the Redis URL (``redis://…``, ``rediss://…``); may hold a password.
        retry_seconds: after a failure, how long to wait before probing Redis again.
        op_timeout: seconds one Redis command may take before Redis counts as down.
        clock: a monotonic clock (injectable).
    """

    def __init__(
        self,
        url: str,
        *,
        retry_seconds: float = 5.0,
        op_timeout: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Imported here: a process without REDIS_URL never pays for loading redis (~35 ms).
        import redis.asyncio as redis_asyncio
        from redis.exceptions import RedisError

        self.url = url
        self.client: redis.Redis = redis_asyncio.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
            url, socket_timeout=op_timeout, socket_connect_timeout=op_timeout
        )
        #: what a Redis outage looks like to a caller
        self.unavailable_errors: tuple[type[Exception], ...] = (
            RedisError,
            OSError,
            TimeoutError,
        )
        self.op_timeout = op_timeout
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._down_since: float | None = None
        self._next_probe = 0.0
        self.outages = 0

    @property
    def healthy(self) -> bool:
        """False from the first failure until Redis answers again."""
        return self._down_since is None

    def should_try(self) -> bool:
        """Whether to use Redis now: always when healthy, else once per retry period."""
        return self._down_since is None or self._clock() >= self._next_probe

    def mark_down(self, error: BaseException) -> None:
        """Record a failure; the first one of an outage is logged loudly."""
        now = self._clock()
        self._next_probe = now + self._retry_seconds
        if self._down_since is None:
            self._down_since = now
            self.outages += 1
            log.error(
                "Redis is unreachable (%s): this replica keeps answering on its own share of "
                "the rate budget, a local cooldown and a local cache until Redis is back",
                type(error).__name__,
            )

    def now(self) -> float:
        """The link's clock, to stamp when an operation started (see :meth:`mark_up`)."""
        return self._clock()

    def mark_up(self, started: float) -> None:
        """Record a success of an operation begun at ``started``; an outage's end is logged.

        A success of an operation that began before the outage was noticed proves nothing
        (it was already on its way), so only a later one ends the outage.
        """
        if self._down_since is not None and started >= self._down_since:
            log.warning(
                "Redis is reachable again after %.0f s: budget, cooldown and cache are shared "
                "again",
                self._clock() - self._down_since,
            )
            self._down_since = None

    async def run(self, operation: Callable[[], Awaitable[T]], fallback: T) -> T:
        """Run a Redis ``operation``; on an outage return ``fallback`` instead of failing."""
        if not self.should_try():
            return fallback
        started = self._clock()
        try:
            result = await operation()
        except self.unavailable_errors as error:
            self.mark_down(error)
            return fallback
        self.mark_up(started)
        return result

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    def __repr__(self) -> str:
        return f"RedisLink(healthy={self.healthy}, outages={self.outages})"


def ceil_ms(seconds: float) -> int:
    """Milliseconds for PX arguments, at least 1."""
    return max(1, math.ceil(seconds * 1000))
