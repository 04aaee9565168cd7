"""Short messages to every replica's listeners: through Redis pub/sub, or within the process.

The MCP server tells the clients listening to a resource that it changed; the change may
be seen by any replica, and the client listens on one. With a Redis URL every replica
publishes on one Redis channel and hears every message on it (its own included); without
one, messages reach this process's listeners only.

Pub/sub keeps nothing: a message published while a replica's subscription is down never
reaches that replica. A message this replica cannot publish (Redis down) still reaches its
own listeners, and the publisher is told (``publish`` returns False) so it can try again
later; a replica whose subscription dropped and came back says so (``on_gap``), so that
the front door can tell its clients to fetch again (no replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis.asyncio as redis

__all__ = ["Broadcast", "BroadcastListener"]

log = logging.getLogger(__name__)

#: called with each message, on the event loop; must not block, must not raise
BroadcastListener = Callable[[str], None]


class Broadcast:
    """Fan-out of text messages to the listeners of every replica (see the module doc).

    Args:
        redis_url: the Redis to fan out through (``None``: this process only).
        channel: the Redis channel (every replica of one deployment uses the same).
        on_gap: called when the subscription came back after a drop (messages may have been
            missed meanwhile); not called for the first subscription.
        op_timeout: seconds one Redis command may take before Redis counts as down.
        retry_seconds: the first pause before subscribing again after a failure; it
            doubles up to ``max_retry_seconds``.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        channel: str,
        on_gap: Callable[[], None] | None = None,
        op_timeout: float = 0.5,
        retry_seconds: float = 0.5,
        max_retry_seconds: float = 30.0,
    ) -> None:
        self.channel = channel
        self.on_gap = on_gap
        self._url = redis_url
        self._op_timeout = op_timeout
        self._retry_seconds = retry_seconds
        self._max_retry_seconds = max_retry_seconds
        self._listeners: dict[object, BroadcastListener] = {}
        self._client: redis.Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        #: set while this replica's subscription is live (it hears its own messages)
        self.subscribed = asyncio.Event()
        self._publish_failing = False
        self.gaps = 0

    @property
    def shared(self) -> bool:
        """Whether messages go through Redis to other replicas."""
        return self._url is not None

    def subscribe(self, listener: BroadcastListener) -> Callable[[], None]:
        """Call ``listener`` with every message from now on; returns how to stop."""
        token = object()
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    async def publish(self, message: str) -> bool:
        """Send ``message`` to every replica's listeners (this one's included).

        Returns:
            True when it went out to every replica (or there is only this process); False
            when Redis failed: only this replica's listeners heard it.
        """
        if self._client is None:
            self._deliver(message)
            return self._url is None
        if not self.subscribed.is_set():  # this replica would not hear its own message
            self._deliver(message)
        try:
            await self._client.publish(self.channel, message)  # pyright: ignore[reportUnknownMemberType]
        except (OSError, TimeoutError, *_redis_errors()) as error:
            if not self._publish_failing:
                log.error(
                    "Redis is unreachable (%s): changes are announced to this replica's "
                    "listeners only until it is back",
                    type(error).__name__,
                )
                self._publish_failing = True
            if self.subscribed.is_set():
                self._deliver(message)
            return False
        if self._publish_failing:
            log.warning("Redis is reachable again: changes are announced to every replica")
            self._publish_failing = False
        return True

    async def start(self) -> None:
        """Connect to Redis (if any) and keep subscribed in the background until :meth:`aclose`.

        Never fails: an unreachable Redis is logged and tried again.
        """
        if self._url is None or self._client is not None:
            return
        # Imported here: a process without REDIS_URL never loads redis.
        import redis.asyncio as redis_asyncio

        self._client = redis_asyncio.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
            self._url, socket_timeout=self._op_timeout, socket_connect_timeout=self._op_timeout
        )
        self._reader = asyncio.create_task(self._read(), name=f"broadcast {self.channel}")

    async def aclose(self) -> None:
        """Stop listening and close the connections."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._client is not None:
            with contextlib.suppress(OSError, *_redis_errors()):
                await self._client.aclose()
            self._client = None

    async def _read(self) -> None:
        assert self._url is not None
        import redis.asyncio as redis_asyncio

        # its own connection: a subscription blocks reading, so no command timeout applies
        reader: redis.Redis = redis_asyncio.Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
            self._url, socket_connect_timeout=self._op_timeout, health_check_interval=30
        )
        pause = self._retry_seconds
        dropped = False
        try:
            while True:
                pubsub = reader.pubsub()  # pyright: ignore[reportUnknownMemberType]
                try:
                    await pubsub.subscribe(self.channel)  # pyright: ignore[reportUnknownMemberType]
                    self.subscribed.set()
                    pause = self._retry_seconds
                    if dropped:
                        log.warning("listening to Redis again: changes from every replica")
                        self.gaps += 1
                        if self.on_gap is not None:
                            self.on_gap()
                    dropped = False
                    async for item in pubsub.listen():  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
                        self._received(item)  # pyright: ignore[reportUnknownArgumentType]
                    dropped = True  # the subscription ended by itself: listen again
                except Exception as error:  # Redis down, or anything else: listen again
                    if not dropped:
                        expected = isinstance(error, (OSError, TimeoutError, *_redis_errors()))
                        log.error(
                            "not listening to Redis (%s): changes announced by other replicas "
                            "are not heard until it answers",
                            type(error).__name__,
                            exc_info=not expected,
                        )
                    dropped = True
                finally:
                    self.subscribed.clear()
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # pyright: ignore[reportUnknownMemberType]
                await asyncio.sleep(pause)
                pause = min(pause * 2, self._max_retry_seconds)
        finally:
            with contextlib.suppress(Exception):
                await reader.aclose()

    def _received(self, item: dict[str, Any]) -> None:
        if item.get("type") != "message":
            return
        data: object = item.get("data")
        if isinstance(data, bytes):
            self._deliver(data.decode("utf-8", errors="replace"))

    def _deliver(self, message: str) -> None:
        for listener in list(self._listeners.values()):
            try:
                listener(message)
            except Exception:  # one bad listener must not starve the others
                log.exception("a broadcast listener failed")


def _redis_errors() -> tuple[type[Exception], ...]:
    from redis.exceptions import RedisError

    return (RedisError,)
