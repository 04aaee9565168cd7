"""A circuit breaker for LeadSquared: stop calling while it keeps failing.

After ``failure_threshold`` consecutive failures that say "LeadSquared is not answering"
(5xx, timeouts, connection failures) the circuit opens: lookups fail at once, for
``open_seconds``, with a message that says when to try again, instead of each waiting out
its own deadline. Then one probe call is let through: success closes the circuit, failure
opens it again. Answers that prove LeadSquared is up (a status, a 404, a 401) close it; a
throttle is left to the cooldown.

The state is per process: each replica finds out for itself, at the cost of a few calls.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from enum import StrEnum

from shared.errors import CaptureStatusError, CircuitOpenError, RateLimitedError

__all__ = ["BreakerState", "CircuitBreaker"]

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    """Where the breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure breaker with a single half-open probe.

    Args:
        failure_threshold: consecutive failures that open the circuit.
        open_seconds: how long it stays open before a probe is allowed.
        clock: a monotonic clock (injectable).
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        open_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.opened_total = 0

    @property
    def state(self) -> BreakerState:
        """Closed, open, or half-open (cool-off over, a probe may go or is going)."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._clock() - self._opened_at >= self.open_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def before_call(self, request_id: str | None = None) -> bool:
        """Let a call through, or fail fast.

        Returns:
            True when this call is the half-open probe (report its outcome).

        Raises:
            CircuitOpenError: the circuit is open, or another call is already probing.
        """
        if self._opened_at is None:
            return False
        wait = self.open_seconds - (self._clock() - self._opened_at)
        if wait <= 0 and not self._probing:
            self._probing = True
            return True
        retry_after = max(wait, 1.0)
        raise CircuitOpenError(
            f"LeadSquared failed {self.failure_threshold} times in a row, so capture-status "
            f"is not calling it for a moment. Try again in about {math.ceil(retry_after)} s.",
            request_id=request_id,
            retry_after=retry_after,
        )

    def record(self, error: CaptureStatusError | None, *, probe: bool = False) -> None:
        """Record the outcome of a call that :meth:`before_call` let through."""
        if probe:
            self._probing = False
        if error is None or not (error.retryable or isinstance(error, RateLimitedError)):
            # LeadSquared answered: it is up, whatever it said.
            if self._opened_at is not None:
                log.warning("LeadSquared answers again: circuit closed")
            self._failures = 0
            self._opened_at = None
            return
        if isinstance(error, RateLimitedError):
            return  # throttling is the cooldown's business, not a sign of an outage
        self._failures += 1
        if probe or (self._opened_at is None and self._failures >= self.failure_threshold):
            self._opened_at = self._clock()
            self.opened_total += 1
            log.error(
                "LeadSquared failed %d times in a row: failing fast for %.0f s",
                self._failures,
                self.open_seconds,
            )

    def release_probe(self) -> None:
        """Forget a probe that ended without an outcome (cancelled), so another may go."""
        self._probing = False
