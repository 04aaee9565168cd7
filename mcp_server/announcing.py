"""Announcing that a followed request's watch ended: the notifier of subscriber kind ``mcp``.

The watcher of any MCP replica delivers the notices of kind ``mcp``: delivering one
publishes "the resource was updated" for the URI its client followed, on the bus (Redis
when several replicas), and the replica where the client listens passes it on (a
``subscriptions/listen`` stream, or a legacy session that subscribed). Loaded with the core.
"""

from __future__ import annotations

import logging

from cachetools import LRUCache
from mcp.server.subscriptions import ResourceUpdated

from mcp_server.bus import ResourceBus
from shared import DeliveryResult, WatchNotice

__all__ = ["RETRY_SECONDS", "Announcer"]

log = logging.getLogger(__name__)

#: a notice Redis could not carry to every replica is announced again this much later
RETRY_SECONDS = 30.0


class Announcer:
    """Tells every replica's listeners that the resource of a watch that ended was updated.

    The same request followed from several places (two streams, two replicas) ends one
    watch with one subscriber each: each notice is announced, but one resource's end only
    once by this replica.

    Args:
        bus: the server's subscription bus.
    """

    def __init__(self, bus: ResourceBus) -> None:
        self._bus = bus
        self._announced: LRUCache[tuple[str, float], bool] = LRUCache(maxsize=4096)

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        """Publish ``ResourceUpdated`` for the URI the subscriber followed."""
        uri = notice.target.get("uri")
        if not isinstance(uri, str) or not uri:
            return DeliveryResult("failed", detail="the subscription names no resource")
        once = (uri, notice.ended_at)
        if once in self._announced:
            return DeliveryResult("sent", detail="announced already")
        if not await self._bus.send(ResourceUpdated(uri=uri)):
            return DeliveryResult(
                "retry",
                detail="Redis is unreachable: only this replica's listeners were told",
                retry_after=RETRY_SECONDS,
            )
        self._announced[once] = True
        log.info("announced that %s ended (%s)", notice.request_id, notice.end)
        return DeliveryResult("sent")
