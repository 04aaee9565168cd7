"""When a watched request is checked next: from what is known about it, not a fixed period.

- **In-Queue.** A young request is checked often and an old one less (the pause is a share
  of the watch's age, between ``min_seconds`` and ``max_seconds``): most requests leave the
  queue soon, and one that has waited long will probably wait longer. The queue metrics'
  worst-case delay (``MaxDelayInSeconds``: the longest time needed to process what is queued
  now) bounds the pause: when the whole queue drains sooner, the check comes right after.
  LeadSquared's queue is a queue (INF: it publishes pending messages and a processing rate),
  so requests leave it in about the order they entered: the earliest-watched request of an
  account is its *head* and is checked every ``head_seconds``; when a check finds a request
  final, the watches created before it are checked at once and the next one soon
  (``next_after_final_seconds``). A request found in ERROR has left the queue too (it was
  processed; LeadSquared retries it on its own schedule): the same happens, and it no
  longer counts as anyone's head. If the queue is not in order, the age-based pauses
  still bound how late a notification comes.
- **Routine checks stay within a share of the budget.** The checks of In-Queue requests
  that are not the head of their queue (*routine* checks: in a queue that serves in order
  they only guard against one that does not) are spread so that together they ask for at
  most ``routine_share`` of the account's budget: with ``N`` such watches and a budget of
  ``R`` calls per second, none is checked more often than every ``N / (routine_share x R)``
  seconds (:meth:`WatchPolicy.routine_floor`). A hundred watches cost what a few did; ten
  thousand never crowd out the head's checks, people's lookups or batches. Requests stuck
  In-Queue (longer than ``stuck_after_seconds``, the head too) and requests still in ERROR
  after LeadSquared's last retry count among them.
- **ERROR.** LeadSquared retries by itself after 30 s, 2, 7, 15, 30, 45 and 60 min, 1.5, 2
  and 3 h (about nine hours in all): the watch checks shortly after each retry, counted from
  when it first saw ERROR, instead of polling in between. Past the last retry nothing more
  is expected: its checks are routine checks (below), at least ``max_seconds`` apart.
- **A check that failed** (throttled, LeadSquared down): backs off, doubling from
  ``failure_seconds`` up to ``max_seconds``, and never before the error's ``retry_after``.
- **Expiry.** Nothing is scheduled past the watch's end: the last check is at its expiry.

Every figure is in seconds of the watcher's clock (benchmarks accelerate it).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.lsq.models import QueueMetrics, StatusKind

__all__ = ["LEADSQUARED_RETRY_PAUSES", "WatchPolicy"]

#: LeadSquared's own retry pauses of a request in ERROR, in order (docs/leadsquared.md)
LEADSQUARED_RETRY_PAUSES: tuple[float, ...] = (
    30,
    120,
    420,
    900,
    1800,
    2700,
    3600,
    5400,
    7200,
    10800,
)


@dataclass(frozen=True, slots=True)
class WatchPolicy:
    """How often watches are checked, how long they last and how the watcher works.

    Attributes:
        expiry_seconds: a watch ends "still not final" after this (default 12 h: longer
            than LeadSquared's whole retry schedule).
        min_seconds: the shortest pause between two checks of one request.
        max_seconds: the longest pause between two checks of an In-Queue request.
        age_share: an In-Queue request's pause is this share of the watch's age.
        routine_share: the share of the account's budget that routine checks (In-Queue,
            not the head of the queue) may ask for together (see the module doc).
        head_seconds: the pause of the earliest-watched In-Queue request of an account.
        next_after_final_seconds: when a request is found final, the next-watched one of
            its account is checked this soon.
        queue_margin_seconds: checked this long after the queue's worst-case delay.
        stuck_after_seconds: a request In-Queue this long is checked by its age only (the
            head and the queue's figures no longer bring its checks forward).
        retry_margin_seconds: checked this long after each of LeadSquared's retries.
        failure_seconds: the first pause after a check that failed; it doubles.
        retry_pauses: LeadSquared's retry pauses for ERROR (see the module doc).
        claim_batch: watches one replica claims at once (its checks run concurrently).
        lease_seconds: how long a claim or a delivery is leased; a replica killed during a
            check loses it this long after the claim, then another replica takes it.
        poll_seconds: the longest the watcher sleeps before asking the store again (a watch
            added by another replica, or a lease that ended).
        metrics_seconds: the queue metrics of an account are asked at most this often.
        overdue_seconds: a due watch this late counts as overdue (``/metrics``).
        counts_seconds: the watcher asks the store for its figures (``/metrics``) this often.
        keep_ended_seconds: ended watches are deleted this long after they ended.
        abandon_notices_seconds: a notice no process delivered for this long is given up
            (its front door is gone: a CLI that was stopped, a Slack app no longer run).
    """

    expiry_seconds: float = 12 * 3600.0
    min_seconds: float = 5.0
    max_seconds: float = 300.0
    age_share: float = 0.25
    routine_share: float = 0.25
    head_seconds: float = 5.0
    next_after_final_seconds: float = 0.5
    queue_margin_seconds: float = 2.0
    stuck_after_seconds: float = 1800.0
    retry_margin_seconds: float = 15.0
    failure_seconds: float = 15.0
    retry_pauses: Sequence[float] = field(default=LEADSQUARED_RETRY_PAUSES)
    claim_batch: int = 25
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    metrics_seconds: float = 30.0
    overdue_seconds: float = 60.0
    counts_seconds: float = 10.0
    keep_ended_seconds: float = 7 * 86400.0
    abandon_notices_seconds: float = 86400.0

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError("pauses must be positive, the least no longer than the longest")
        if not (self.expiry_seconds > 0 and self.lease_seconds > 0 and self.poll_seconds > 0):
            raise ValueError("expiry, lease and poll times must be positive")
        if self.claim_batch < 1:
            raise ValueError("claim_batch must be at least 1")
        if not 0 < self.routine_share <= 1:
            raise ValueError("routine_share is a share of the budget: more than 0, at most 1")

    def routine_floor(self, watches: int, calls_per_second: float) -> float:
        """The shortest pause of a routine check when ``watches`` share ``calls_per_second``.

        ``watches`` routine checks spread over this many seconds ask for ``routine_share``
        of a budget of ``calls_per_second`` together.
        """
        if watches <= 0 or calls_per_second <= 0:
            return 0.0
        return watches / (self.routine_share * calls_per_second)

    def next_check_at(
        self,
        status: StatusKind | None,
        *,
        now: float,
        created_at: float,
        expires_at: float,
        error_since: float | None = None,
        metrics: QueueMetrics | None = None,
        head: bool = False,
        routine_floor: float = 0.0,
    ) -> float:
        """When to check a request that is not final yet (never past ``expires_at``).

        ``routine_floor`` (see :meth:`routine_floor`) lengthens the pause of a request that
        is In-Queue and not the ``head`` of its queue (or stuck there: in the queue longer
        than ``stuck_after_seconds``), or in ERROR past LeadSquared's last retry.
        """
        if status is StatusKind.ERROR and error_since is not None:
            pause = self._after_next_retry(now - error_since)
            if pause is None:  # LeadSquared has given up retrying: a routine check
                pause = max(self.max_seconds, routine_floor)
        else:
            pause = self._in_queue_pause(now - created_at, metrics, head, routine_floor)
        return min(now + pause, expires_at)

    def after_failure(
        self, failures: int, *, now: float, expires_at: float, retry_after: float | None = None
    ) -> float:
        """When to check again after ``failures`` checks in a row failed with a temporary error."""
        doublings = min(max(0, failures - 1), 30)  # past that, the longest pause anyway
        pause = min(self.failure_seconds * 2**doublings, self.max_seconds)
        if retry_after is not None:
            pause = max(pause, retry_after)
        return min(now + max(pause, self.min_seconds), expires_at)

    def _in_queue_pause(
        self, age: float, metrics: QueueMetrics | None, head: bool, routine_floor: float
    ) -> float:
        pause = min(max(age * self.age_share, self.min_seconds), self.max_seconds)
        if age > self.stuck_after_seconds:  # the queue's figures were wrong for this one:
            return max(pause, routine_floor)  # a routine check, by its age
        # the head is checked often; the others within their share of the budget
        pause = min(pause, self.head_seconds) if head else max(pause, routine_floor)
        worst = metrics.max_delay_seconds if metrics is not None else None
        if worst is not None and worst > 0:
            pause = min(pause, max(worst + self.queue_margin_seconds, self.min_seconds))
        return pause

    @property
    def retries_seconds(self) -> float:
        """How long after a request first shows ERROR its last retry is checked."""
        return sum(self.retry_pauses) + self.retry_margin_seconds

    def _after_next_retry(self, in_error: float) -> float | None:
        """The pause until just after LeadSquared's next retry of a request in ERROR
        (``None`` past the last one)."""
        for retry_at in itertools.accumulate(self.retry_pauses):
            check_at = retry_at + self.retry_margin_seconds
            if check_at > in_error + self.min_seconds:
                return check_at - in_error
        return None
