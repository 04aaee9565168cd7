"""Result cache by status class, and single-flight for concurrent lookups of one id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TLRUCache

from shared import defaults
from shared.explain.redact import DEFAULT_REDACTOR, redacted_status
from shared.guard.redis_link import RedisLink, ceil_ms
from shared.lsq.models import CaptureStatus, StatusKind

__all__ = ["CacheTtls", "ResultCache", "SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheTtls:
    """How long each status class stays cached, in seconds.

    Success and FAILURE are final and cached long. ERROR may still be retried by LeadSquared
    (for about nine hours), so it is kept briefly. In-Queue and unknown statuses change soon:
    a few seconds absorb repeated refreshes. Errors are never cached.
    """

    final: float = defaults.CACHE_FINAL_TTL_SECONDS
    error_status: float = defaults.CACHE_ERROR_STATUS_TTL_SECONDS
    pending: float = defaults.CACHE_PENDING_TTL_SECONDS

    def for_status(self, status: CaptureStatus) -> float:
        """The time to live of ``status``."""
        if status.is_final:
            return self.final
        if status.status is StatusKind.ERROR:
            return self.error_status
        return self.pending


class ResultCache:
    """Decoded statuses with a TTL chosen by status class, in process and (optionally) Redis.

    The in-process layer answers first. With a :class:`~shared.guard.redis_link.RedisLink` a miss
    there asks Redis, so an answer one replica fetched serves every replica. What goes to
    Redis has the submitted body's PII masked: lead details never leave the process.

    Args:
        ttls: time to live per status class.
        max_entries: bound on memory; the least recently used entries go first.
        key: the account key; Redis keys derive from it.
        link: Redis, to share the cache across processes.
        clock: a monotonic clock (injectable).
    """

    def __init__(
        self,
        ttls: CacheTtls | None = None,
        *,
        max_entries: int = defaults.CACHE_MAX_ENTRIES,
        key: str = "capture-status",
        link: RedisLink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttls = ttls or CacheTtls()
        ttls_ = self.ttls
        # An answer read from Redis lives only as long as Redis still keeps it.
        remaining_ttl: dict[str, float] = {}
        self._remaining_ttl = remaining_ttl

        def expires_at(key: str, value: CaptureStatus, now: float) -> float:
            return now + remaining_ttl.pop(key, ttls_.for_status(value))

        self._entries: TLRUCache[str, CaptureStatus] = TLRUCache(
            maxsize=max_entries, ttu=expires_at, timer=clock
        )
        self._prefix = f"{key}:status:"
        self._link = link
        self.hits = 0
        self.shared_hits = 0
        self.misses = 0

    async def get(self, request_id: str) -> CaptureStatus | None:
        """The cached status of ``request_id``, if still fresh."""
        found = self._entries.get(request_id)
        if found is None and self._link is not None:
            shared = await self._shared_get(self._link, request_id)
            if shared is not None:
                found, remaining = shared
                self.shared_hits += 1
                self._remaining_ttl[request_id] = remaining
                self._entries[request_id] = found
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    async def put(self, status: CaptureStatus) -> None:
        """Remember ``status`` for as long as its class allows."""
        ttl = self.ttls.for_status(status)
        if ttl <= 0:
            return
        self._entries[status.request_id] = status
        if self._link is not None:
            link = self._link
            masked = redacted_status(status, DEFAULT_REDACTOR).model_dump_json()

            async def share() -> None:
                await link.client.set(self._prefix + status.request_id, masked, px=ceil_ms(ttl))

            await link.run(share, None)

    async def forget(self, request_id: str) -> None:
        """Drop ``request_id``'s answer, here and in Redis."""
        self._entries.pop(request_id, None)
        self._remaining_ttl.pop(request_id, None)
        if self._link is not None:
            link = self._link

            async def delete() -> None:
                await link.client.delete(self._prefix + request_id)

            await link.run(delete, None)

    async def _shared_get(
        self, link: RedisLink, request_id: str
    ) -> tuple[CaptureStatus, float] | None:
        """The status Redis holds for ``request_id`` and the seconds it has left there."""
        key = self._prefix + request_id

        async def fetch() -> tuple[bytes | str | None, int]:
            async with link.client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                raw, millis = await pipe.execute()
            return raw, int(millis)

        raw, millis = await link.run(fetch, (None, -2))
        if raw is None or millis <= 0:
            return None
        try:
            return CaptureStatus.model_validate_json(raw), millis / 1000
        except ValueError:
            return None  # written by another version: fetch a fresh answer instead


class SingleFlight(Generic[K, V]):
    """Concurrent calls for the same key share one execution of the work.

    The first caller (the leader) runs the work in its own task, with no task of its own to
    spawn; the others wait for its outcome and receive the same result or exception. A
    leader that is cancelled does not take the others down with it: one of them runs the
    work again.
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}
        self.shared = 0

    async def do(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        """Run ``work`` for ``key``, or join the run already in flight for it.

        Raises:
            Exception: whatever ``work`` raised, to every caller that shared it.
        """
        while (running := self._running.get(key)) is not None:
            self.shared += 1
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this caller was cancelled
                # the leader was cancelled: try again, perhaps as the new leader
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await work()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: a leader without followers logs no warning
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._running[key]
