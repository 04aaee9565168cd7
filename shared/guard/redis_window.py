"""The budget's moving window in Redis, shared by every replica, with the lanes' claims on it.

Imported only when ``REDIS_URL`` is set. One script takes a call atomically:

1. a caller of a lower lane waits while any replica has a caller of a higher lane waiting
   (a *claim*: ``lane:replica`` with an expiry a little past that caller's next try);
2. a paced lane (watch, bulk) takes at most one call per ``spacing`` seconds, across every
   replica, so the calls it holds free up one at a time; replicas waiting in the same paced
   lane take turns (the one served longest ago goes first);
3. the moving window (the newest ``limit`` send times, newest first, each counted for
   ``expiry`` seconds: LeadSquared's window plus the jitter guard) must have room.

A refused caller gets the seconds until it may try again, and its claim is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import redis.asyncio as redis

__all__ = ["SharedWindow"]

_TAKE = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local lane = tonumber(ARGV[4])
local claimant = ARGV[5]
local spacing = tonumber(ARGV[6])
local margin = tonumber(ARGV[7])
local wait = 0
redis.call('zremrangebyscore', KEYS[2], '-inf', now)
if lane > 0 then
    local mine = tonumber(redis.call('hget', KEYS[4], claimant) or '0')
    for _, member in ipairs(redis.call('zrange', KEYS[2], 0, -1)) do
        local claimed, other = string.match(member, '^(%d+):(.*)$')
        claimed = tonumber(claimed)
        if claimed and claimed < lane then
            wait = math.max(spacing, margin)
            break
        end
        -- turns inside a paced lane: the replica served longest ago goes first
        if claimed == lane and other ~= claimant then
            local theirs = tonumber(redis.call('hget', KEYS[4], other) or '0')
            if theirs < mine then
                wait = math.max(wait, spacing)
            end
        end
    end
end
if spacing > 0 then
    local last = tonumber(redis.call('get', KEYS[3]) or '0')
    if now < last + spacing then
        wait = math.max(wait, last + spacing - now)
    end
end
local entry = redis.call('lindex', KEYS[1], limit - 1)
if entry and tonumber(entry) > now - expiry then
    wait = math.max(wait, tonumber(entry) + expiry - now)
end
if wait > 0 then
    redis.call('zadd', KEYS[2], now + wait + margin, lane .. ':' .. claimant)
    redis.call('expire', KEYS[2], math.ceil(expiry + wait + margin))
    return tostring(wait)
end
redis.call('lpush', KEYS[1], ARGV[1])
redis.call('ltrim', KEYS[1], 0, limit - 1)
redis.call('expire', KEYS[1], math.ceil(expiry))
if spacing > 0 then
    redis.call('set', KEYS[3], ARGV[1], 'EX', math.ceil(expiry))
    redis.call('hset', KEYS[4], claimant, ARGV[1])
    redis.call('expire', KEYS[4], math.ceil(expiry))
end
return '0'
"""


class SharedWindow:
    """The moving window of one account in Redis, with the lanes' claims and the pace.

    Args:
        client: the redis-py client of the process's :class:`~shared.guard.redis_link.RedisLink`.
        key: the account key (see :func:`~shared.guard.ratelimit.account_key`).
        claimant: this replica's name in claims (unique per process).
        limit: calls per window.
        expiry: seconds each call is counted (the window plus the jitter guard).
        wall: the wall clock every replica stamps calls with (injectable for tests).
    """

    #: seconds a claim outlives its holder's next try (a crashed replica's claim lapses)
    CLAIM_MARGIN = 0.5

    def __init__(
        self,
        client: redis.Redis,
        *,
        key: str,
        claimant: str,
        limit: int,
        expiry: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._keys = [f"{key}:window", f"{key}:claims", f"{key}:pace", f"{key}:turns"]
        self._claimant = claimant
        self._limit = limit
        self._expiry = expiry
        self._wall = wall
        self._take: Callable[..., Awaitable[Any]] = cast(
            "Callable[..., Awaitable[Any]]", client.register_script(_TAKE)
        )

    async def take(self, lane: int, spacing: float) -> float | None:
        """Take one call for ``lane`` if it may go now; else the seconds until it may try again.

        Raises:
            redis.exceptions.RedisError, OSError, TimeoutError: Redis did not answer.
        """
        answer = await self._take(
            keys=self._keys,
            args=[
                repr(self._wall()),
                self._limit,
                repr(self._expiry),
                int(lane),  # an IntEnum's repr is not its number
                self._claimant,
                repr(spacing),
                repr(self.CLAIM_MARGIN),
            ],
        )
        wait = float(answer.decode() if isinstance(answer, bytes) else answer)
        return None if wait <= 0 else wait

    async def release_claim(self, lane: int) -> None:
        """This replica has no caller of ``lane`` waiting any more.

        Raises:
            redis.exceptions.RedisError, OSError, TimeoutError: Redis did not answer.
        """
        await self._client.zrem(self._keys[1], f"{int(lane)}:{self._claimant}")  # pyright: ignore[reportUnknownMemberType]
