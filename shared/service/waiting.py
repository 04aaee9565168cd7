"""Waiting for a capture request to reach a final status, within the shared rate budget.

Front doors that "watch" a request (the MCP tool ``wait_for_capture``, a Slack button) call
:func:`wait_for_final`. It looks the request up again and again until LeadSquared calls it
final (Success or FAILURE) or the time runs out. The pauses between checks come from the
client's own options, so that a wait never crowds out other lookups:

- never shorter than the In-Queue cache TTL (an In-Queue answer counts as fresh that long);
- never shorter than the budget window divided by a share of its calls (one wait uses at most
  ``budget_share`` of the budget, even when nothing else runs);
- growing from ``first_seconds`` to ``max_seconds`` (a request that is not done soon is
  probably waiting behind a long queue).

Every check still goes through the client's moving-window budget and throttle cooldown, so
several waits at once never exceed the budget either.

A wait never runs past its timeout: each check is given only the time left (the client's own
deadline may be longer), no pause reaches past the end, and a check that could not finish in
time is not started. When a throttle's cooldown outlasts the wait, the wait ends at once and
says so (its last error is the throttle), rather than sleeping into the cooldown.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from shared.errors import CaptureStatusError, DeadlineExceededError, RateLimitedError
from shared.guard.lanes import ANONYMOUS, Caller
from shared.guard.ratelimit import Sleep
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.lsq.ids import extract_request_id
from shared.lsq.models import CaptureStatus

__all__ = ["OnProgress", "PollSchedule", "WaitOutcome", "WaitProgress", "wait_for_final"]


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """How long a wait pauses between two checks of the same request.

    Attributes:
        first_seconds: the first pause (raised to the floor, see :meth:`floor_seconds`).
        max_seconds: the longest pause (never below the floor).
        growth: each pause is the previous one times this factor, up to ``max_seconds``.
        budget_share: the largest share of the call budget one wait may use (0.25: at most
            a quarter of the calls the budget allows per window).
        last_check_seconds: the time kept for the last check: when the next pause would end
            less than this before the timeout, the wait pauses only until this long before
            the end and checks once more, or ends when there is not that much time left. The
            first check is given at least this long, so a 0 s wait still checks once.
    """

    first_seconds: float = 2.0
    max_seconds: float = 15.0
    growth: float = 1.5
    budget_share: float = 0.25
    last_check_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not (self.first_seconds > 0 and self.max_seconds > 0 and self.last_check_seconds > 0):
            raise ValueError("pauses and the time of the last check must be positive")
        if not self.growth >= 1:
            raise ValueError("growth must be at least 1: pauses never shrink")
        if not 0 < self.budget_share <= 1:
            raise ValueError("budget_share is a fraction of the budget: 0 < share <= 1")

    def floor_seconds(self, options: ClientOptions) -> float:
        """The shortest pause allowed by ``options``' In-Queue cache TTL and call budget."""
        per_call = options.budget_seconds / options.budget_calls
        return max(options.cache_ttls.pending, per_call / self.budget_share)

    def pauses(self, options: ClientOptions) -> Iterator[float]:
        """The pauses of one wait, in order: an endless, non-decreasing sequence."""
        floor = self.floor_seconds(options)
        pause = max(self.first_seconds, floor)
        longest = max(self.max_seconds, floor)
        while True:
            yield pause
            pause = min(pause * self.growth, longest)


@dataclass(frozen=True, slots=True)
class WaitProgress:
    """Where a wait stands after one check.

    Attributes:
        request_id: the RequestId waited for (normalised).
        checks: how many checks were made so far.
        elapsed_seconds: time since the wait started.
        timeout_seconds: the time the wait was given.
        status: the latest status seen, if any check succeeded yet.
        error: the retryable error of this check, when it failed (the wait goes on).
        next_check_in_seconds: the pause before the next check; ``None`` when the wait is
            over (final status or timeout).
    """

    request_id: str
    checks: int
    elapsed_seconds: float
    timeout_seconds: float
    status: CaptureStatus | None
    error: CaptureStatusError | None
    next_check_in_seconds: float | None


@dataclass(frozen=True, slots=True)
class WaitOutcome:
    """How a wait ended.

    Attributes:
        request_id: the RequestId waited for (normalised).
        status: the latest status seen; ``None`` when no check ever succeeded.
        finished: True when ``status`` is final (Success or FAILURE).
        checks: how many checks were made.
        elapsed_seconds: how long the wait took (never much more than ``timeout_seconds``).
        timeout_seconds: the time the wait was given.
        last_error: why the last check failed, when it did: its retryable error, or the
            throttle whose cooldown outlasted the wait (a :class:`RateLimitedError`). A check
            cut short by the end of the wait keeps the error before it, if any.
    """

    request_id: str
    status: CaptureStatus | None
    finished: bool
    checks: int
    elapsed_seconds: float
    timeout_seconds: float
    last_error: CaptureStatusError | None

    @property
    def timed_out(self) -> bool:
        """True when the wait ended before the status became final.

        ``last_error`` says when a throttle, not the timeout, is why no more checks were made.
        """
        return not self.finished


OnProgress = Callable[[WaitProgress], Awaitable[None]]


async def wait_for_final(
    client: CaptureStatusClient,
    request_id: str,
    *,
    timeout_seconds: float,
    on_progress: OnProgress | None = None,
    schedule: PollSchedule | None = None,
    caller: Caller = ANONYMOUS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> WaitOutcome:
    """Check ``request_id`` until its status is final or ``timeout_seconds`` have passed.

    The first check may be answered from the client's cache (a final status there ends the
    wait at once, for free); every later check asks LeadSquared afresh. Retryable errors
    (throttles, timeouts, 5xx, connection problems) do not end the wait: it pauses at least
    as long as the error's ``retry_after`` and tries again while time is left.

    The wait keeps to its timeout: every check is given only the time left in the wait
    (the first at least ``schedule.last_check_seconds``), and the last check is made
    ``schedule.last_check_seconds`` before the end. It ends early, unfinished, when no
    further check could be made in time: too little time left, or a throttle that asks
    (``retry_after``, or the client's shared cooldown) to stand back past the end; then
    ``last_error`` is that throttle.

    Args:
        client: the process's client (its budget, cooldown and cache are shared).
        request_id: a RequestId, or text/URL containing exactly one.
        timeout_seconds: how long to wait at most (0: check once).
        on_progress: awaited after every check.
        schedule: the pauses between checks (the defaults suit LeadSquared's budget).
        clock: a monotonic clock (injectable; checks are bounded by the event loop's clock,
            which is this one in production).
        sleep: how to pause (injectable).

    Returns:
        The outcome: the latest status and whether it is final.

    Raises:
        ValueError: ``timeout_seconds`` is negative or not finite.
        InvalidRequestIdError: no RequestId in ``request_id`` (no quota spent).
        CaptureStatusError: the first error that retrying cannot fix (the request is not
            found, the API key is refused, ...).
    """
    if not (math.isfinite(timeout_seconds) and timeout_seconds >= 0):
        raise ValueError(f"timeout_seconds must be a finite number >= 0, not {timeout_seconds}")
    rid = extract_request_id(request_id)
    schedule = schedule or PollSchedule()
    reserve = schedule.last_check_seconds
    pauses = schedule.pauses(client.options)
    started = clock()
    deadline = started + timeout_seconds
    checks = 0
    status: CaptureStatus | None = None
    error: CaptureStatusError | None = None

    async def report(next_check: float | None) -> None:
        if on_progress is not None:
            await on_progress(
                WaitProgress(
                    request_id=rid,
                    checks=checks,
                    elapsed_seconds=clock() - started,
                    timeout_seconds=timeout_seconds,
                    status=status,
                    error=error,
                    next_check_in_seconds=next_check,
                )
            )

    async def done() -> WaitOutcome:
        await report(None)
        return WaitOutcome(
            request_id=rid,
            status=status,
            finished=status is not None and status.is_final,
            checks=checks,
            elapsed_seconds=clock() - started,
            timeout_seconds=timeout_seconds,
            last_error=error,
        )

    while True:
        left = deadline - clock()
        if checks:
            if left <= 0:
                return await done()
            cooling = await client.cooldown.remaining()
            if cooling >= left:
                # the shared cooldown (maybe another lookup's throttle) outlasts the wait
                error = _throttled(rid, cooling, timeout_seconds)
                return await done()
        allowed = left if checks else max(left, reserve)
        checks += 1
        try:
            status = await _check(
                client, rid, use_cache=checks == 1, allowed_seconds=allowed, caller=caller
            )
            error = None
        except CaptureStatusError as failed:
            if not failed.retryable:
                raise
            error = failed
        except _CutShortError:
            error = await _cut_short(client, rid, error, allowed, timeout_seconds)
        remaining = deadline - clock()
        if (status is not None and status.is_final) or remaining <= 0:
            return await done()
        pause = next(pauses)
        retry_after = error.retry_after if error is not None else None
        if retry_after is not None and retry_after > remaining - reserve:
            return await done()  # the error asks to stand back past the last check
        if retry_after is not None:
            pause = max(pause, retry_after)
        if pause > remaining - reserve:
            pause = remaining - reserve  # the last check, early enough to finish in time
            if pause <= 0:
                return await done()  # not enough time left for another check
        await report(pause)
        await sleep(pause)


class _CutShortError(Exception):
    """A check did not finish in the time left in the wait."""


async def _check(
    client: CaptureStatusClient,
    rid: str,
    *,
    use_cache: bool,
    allowed_seconds: float,
    caller: Caller,
) -> CaptureStatus:
    """One lookup, given at most ``allowed_seconds`` (the client's own deadline applies too).

    Raises:
        _CutShortError: the time ran out first (the check was cancelled).
    """
    try:
        async with asyncio.timeout(allowed_seconds):
            return await client.get_status(
                rid, use_cache=use_cache, refresh_floor=False, caller=caller
            )
    except TimeoutError:
        raise _CutShortError from None


async def _cut_short(
    client: CaptureStatusClient,
    rid: str,
    previous: CaptureStatusError | None,
    allowed_seconds: float,
    timeout_seconds: float,
) -> CaptureStatusError:
    """The error of a check cut short by the end of the wait: why it could not finish.

    A throttle's cooldown (the client waits it out before calling again) comes first; then
    the error of the check before, which the cut-short check was retrying; only without
    either is it LeadSquared's slowness.
    """
    cooling = await client.cooldown.remaining()
    if cooling > 0:
        return _throttled(rid, cooling, timeout_seconds)
    if previous is not None:
        return previous
    return DeadlineExceededError(
        f"LeadSquared did not answer within the {allowed_seconds:.1f} s left of this "
        f"{timeout_seconds:g} s wait. Try again in a minute.",
        request_id=rid,
    )


def _throttled(rid: str, cooling: float, timeout_seconds: float) -> RateLimitedError:
    return RateLimitedError(
        "LeadSquared throttled this account and capture-status is standing back for about "
        f"{math.ceil(cooling)} s more, past the end of this {timeout_seconds:g} s wait. Try "
        "again after that.",
        request_id=rid,
        retry_after=cooling,
    )
