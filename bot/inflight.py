"""Counting answers in progress, so a shutdown can wait for them instead of dropping them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator

__all__ = ["InFlight"]


class InFlight:
    """How many listener bodies (ack, look up, answer) are running right now.

    Listeners enter :meth:`track` before they ``ack()``; by the time Slack has its
    acknowledgement the work is already counted, so :meth:`drain` cannot miss it.
    """

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        #: set when a shutdown starts waiting (tests and logs use it)
        self.draining = asyncio.Event()

    @property
    def count(self) -> int:
        """Answers in progress."""
        return self._count

    @contextlib.contextmanager
    def track(self) -> Generator[None]:
        """Count the enclosed work as in flight."""
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def drain(self, grace_seconds: float) -> bool:
        """Wait until nothing is in flight, at most ``grace_seconds``.

        Returns:
            True when every answer finished, False when the wait timed out.
        """
        self.draining.set()
        try:
            async with asyncio.timeout(grace_seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
