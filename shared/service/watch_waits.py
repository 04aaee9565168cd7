"""Waits that ride on watches: a caller waiting now is woken by the watcher's result.

A process that serves waits (the MCP server's ``wait_for_capture``) creates one
:class:`WatchWaits` and gives it to its watcher twice: as the :class:`Notifier` of its own
subscriber kind (``mcp:<instance>``, as the CLI's ``cli:<instance>``: only this process
delivers it) and as ``on_check``. A wait (``CaptureService.wait(..., waits=...)``) then
subscribes to the request's watch with a subscriber of that kind and sleeps until the watch
ends or its time is up; the checks this process's watcher makes meanwhile are its progress.

The end comes through the store, so a wait is woken whichever replica's watcher finished
the watch (within the watcher's poll interval); only the checks that other replicas make
are not seen here as progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Generator
from typing import TYPE_CHECKING

from shared.service.watch_views import DeliveryResult, WatchNotice
from shared.store import NewSubscriber

if TYPE_CHECKING:
    from shared.service.watcher import WatchCheck

__all__ = ["WatchWait", "WatchWaits"]


class WatchWait:
    """One wait's link to the watcher: its subscriber, and what the watcher tells it.

    Attributes:
        account, request_id: the request waited for (the request id normalised).
        target_key: the subscriber's place, unique to this wait.
    """

    def __init__(self, waits: WatchWaits, account: str, request_id: str) -> None:
        self._waits = waits
        self.account = account
        self.request_id = request_id
        self._token = uuid.uuid4().hex
        self.target_key = f"wait:{self._token}"
        self._events: asyncio.Queue[WatchCheck | WatchNotice] = asyncio.Queue()

    def subscriber(self, principal: str) -> NewSubscriber:
        """The subscriber to add to the request's watch for ``principal``."""
        return NewSubscriber(
            kind=self._waits.kind,
            principal=principal,
            scope=self._waits.scope,
            target={"wait": self._token},
            target_key=self.target_key,
        )

    async def next_event(self) -> WatchCheck | WatchNotice:
        """The next thing the watcher says: a check of the request, or the watch's end."""
        return await self._events.get()

    def tell(self, event: WatchCheck | WatchNotice) -> None:
        """Pass on what the watcher said (:class:`WatchWaits` calls it)."""
        self._events.put_nowait(event)


class WatchWaits:
    """The waits of one process, woken by its watcher.

    Give it to the process's watcher as the notifier of :attr:`kind` and as ``on_check``
    (``running_watcher(service, notifiers={waits.kind: waits}, on_check=waits.on_check)``).

    Args:
        front_door: the front door's kind prefix (``mcp``): subscribers are of kind
            ``<front_door>:<instance>``, delivered by this process only.
        scope: the group whose watch limit the waiting principals count against.
    """

    def __init__(self, front_door: str, *, scope: str) -> None:
        self.kind = f"{front_door}:{uuid.uuid4().hex}"
        self.scope = scope
        self._waiting: dict[str, WatchWait] = {}

    @property
    def active(self) -> int:
        """How many waits are running in this process."""
        return len(self._waiting)

    @contextlib.contextmanager
    def waiting(self, account: str, request_id: str) -> Generator[WatchWait]:
        """Register a wait for ``request_id`` of ``account`` while the block runs."""
        wait = WatchWait(self, account, request_id)
        self._waiting[wait.target_key] = wait
        try:
            yield wait
        finally:
            del self._waiting[wait.target_key]

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        """Wake the wait ``notice`` is for (the :class:`Notifier` of :attr:`kind`)."""
        wait = self._waiting.get(f"wait:{notice.target.get('wait')}")
        if wait is None:  # it ended (timed out, cancelled) just before the watch did
            return DeliveryResult("failed", detail="the wait had ended")
        wait.tell(notice)
        return DeliveryResult("sent")

    async def on_check(self, check: WatchCheck) -> None:
        """Tell the waits of the request checked (the watcher's ``on_check``)."""
        for wait in self._waiting.values():
            if wait.account == check.account and wait.request_id == check.request_id:
                wait.tell(check)
