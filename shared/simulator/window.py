"""The simulator's own moving rate window: the referee of the 25-per-5-seconds budget.

Deliberately written by hand with a deque and independent of the ``limits`` library the
client uses: a referee that shared the client's implementation would share its bugs.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["MovingWindow"]


class MovingWindow:
    """At most ``limit`` admitted calls in any period of ``seconds``.

    A call at time ``t`` is admitted when fewer than ``limit`` calls were admitted in the
    half-open period ``(t - seconds, t]``. Refused calls are not remembered: LeadSquared's
    429 answers do not count against the budget (INF, the safest reading for clients).
    """

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError("a rate window needs limit >= 1 and seconds > 0")
        self.limit = limit
        self.seconds = seconds
        self._admitted: deque[float] = deque()

    def _forget_expired(self, now: float) -> None:
        while self._admitted and self._admitted[0] <= now - self.seconds:
            self._admitted.popleft()

    def try_admit(self, now: float) -> bool:
        """Admit a call at ``now`` if the window has room; return whether it was admitted."""
        self._forget_expired(now)
        if len(self._admitted) >= self.limit:
            return False
        self._admitted.append(now)
        return True

    def seconds_until_room(self, now: float) -> float:
        """How long until a call would be admitted (0 when it would be admitted now)."""
        self._forget_expired(now)
        if len(self._admitted) < self.limit:
            return 0.0
        # the oldest admitted call that must leave before there is room again
        blocking = self._admitted[len(self._admitted) - self.limit]
        return max(0.0, blocking + self.seconds - now)

    def retry_after_header(self, now: float) -> str:
        """The wait as a Retry-After value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(self.seconds_until_room(now))))

    def clear(self) -> None:
        """Forget every admitted call."""
        self._admitted.clear()
