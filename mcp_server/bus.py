"""The server's ``subscriptions/listen`` bus, over the core's :class:`~shared.Broadcast`.

mcp 2.3 delivers change events to listen streams through a ``SubscriptionBus``
(``MCPServer(..., subscriptions=bus)``); its default is in-process. Behind several replicas a
client listens on one replica while the watch it follows may end on another, so this bus
carries events through the broadcast: Redis pub/sub when ``REDIS_URL`` is set (every
replica hears every event, its own included), this process only otherwise. Events travel
as small JSON objects; the SDK's listen handler filters them per stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import anyio.lowlevel
from mcp.server.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
)

from shared import Broadcast

__all__ = ["MAX_URI_CHARS", "ResourceBus", "decode_event", "encode_event"]

log = logging.getLogger(__name__)

#: the longest resource URI an event may carry (ours are about 60 characters)
MAX_URI_CHARS = 2048

_LIST_EVENTS: dict[str, ServerEvent] = {
    "tools_list_changed": ToolsListChanged(),
    "prompts_list_changed": PromptsListChanged(),
    "resources_list_changed": ResourcesListChanged(),
}


def encode_event(event: ServerEvent) -> str:
    """``event`` as the text sent to every replica."""
    if isinstance(event, ResourceUpdated):
        return json.dumps({"event": "resource_updated", "uri": event.uri})
    name = next(name for name, known in _LIST_EVENTS.items() if known == event)
    return json.dumps({"event": name})


def decode_event(text: str) -> ServerEvent | None:
    """The event ``text`` carries, or ``None`` when it is not one of ours."""
    if len(text) > MAX_URI_CHARS + 100:
        return None
    try:
        data: object = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    fields: dict[str, object] = {str(k): v for k, v in data.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    name = fields.get("event")
    uri = fields.get("uri")
    if name == "resource_updated" and isinstance(uri, str) and 0 < len(uri) <= MAX_URI_CHARS:
        return ResourceUpdated(uri=uri)
    return _LIST_EVENTS.get(name) if isinstance(name, str) else None


class ResourceBus:
    """A ``SubscriptionBus`` whose events reach the listeners of every replica.

    Args:
        broadcast: carries the events (started and closed by the server's lifespan).
    """

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self._listeners: dict[object, Callable[[ServerEvent], None]] = {}
        broadcast.subscribe(self._received)

    async def publish(self, event: ServerEvent) -> None:
        """Deliver ``event`` to every listener of every replica (best effort)."""
        await self.send(event)

    async def send(self, event: ServerEvent) -> bool:
        """:meth:`publish`, saying whether every replica got it (False: Redis failed, only
        this replica's listeners did)."""
        sent = await self.broadcast.publish(encode_event(event))
        # as the SDK's in-memory bus: let listen streams drain between bursts of events
        await anyio.lowlevel.checkpoint()
        return sent

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        """Register ``listener`` (synchronous, must not raise); returns how to stop."""
        token = object()
        self._listeners[token] = listener

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    def deliver_here(self, event: ServerEvent) -> None:
        """Give ``event`` to this replica's listeners only."""
        for listener in list(self._listeners.values()):
            try:
                listener(event)
            except Exception:  # one bad listener must not starve the others
                log.exception("a subscription listener failed")

    def _received(self, text: str) -> None:
        event = decode_event(text)
        if event is None:
            log.warning("ignored a message on %s that is not an event", self.broadcast.channel)
            return
        self.deliver_here(event)
