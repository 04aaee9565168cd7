"""``limits``' Redis storage for a moving window a little longer than a whole number of seconds.

Imported only when ``REDIS_URL`` is set.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import redis.asyncio as redis
from limits.aio.storage import RedisStorage
from limits.errors import StorageError
from redis.exceptions import RedisError

__all__ = ["GuardedRedisStorage"]

# limits' moving-window script, except that the key's TTL is rounded up to whole seconds:
# EXPIRE wants an integer, and our window is a little longer than LeadSquared's (the jitter
# guard of RateBudget), so it is not a whole number of seconds.
_ACQUIRE_MOVING_WINDOW = """
local timestamp = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
if amount > limit then
    return false
end
local entry = redis.call('lindex', KEYS[1], limit - amount)
if entry and tonumber(entry) >= timestamp - expiry then
    return false
end
for i = 1, amount do
    redis.call('lpush', KEYS[1], timestamp)
end
redis.call('ltrim', KEYS[1], 0, limit - 1)
redis.call('expire', KEYS[1], math.ceil(expiry))
return true
"""


class GuardedRedisStorage(RedisStorage):
    """``limits``' Redis storage (redis-py) that accepts a fractional moving window.

    Args:
        uri: the ``async+redis://`` URI limits reads windows through.
        client: the redis-py client whose pool (and timeouts) both use.
    """

    def __init__(self, uri: str, client: redis.Redis) -> None:
        # limits reads windows over the link's own connection pool: one pool per process,
        # closed with the link (its timeouts are the link's).
        super().__init__(
            uri,
            wrap_exceptions=True,
            implementation="redispy",
            connection_pool=client.connection_pool,  # pyright: ignore[reportArgumentType]
        )
        self._acquire: Callable[..., Awaitable[Any]] = cast(
            "Callable[..., Awaitable[Any]]", client.register_script(_ACQUIRE_MOVING_WINDOW)
        )

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Atomically take ``amount`` slots of the moving window, if free.

        Raises:
            limits.errors.StorageError: Redis did not answer.
        """
        try:
            acquired = await self._acquire(
                keys=[self.bridge.prefixed_key(key)], args=[time.time(), limit, expiry, amount]
            )
        except (RedisError, OSError, TimeoutError) as exc:
            raise StorageError(exc) from exc
        return bool(acquired)
