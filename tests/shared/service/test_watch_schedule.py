"""WatchPolicy: when a watched request is checked next, from what is known about it."""

from __future__ import annotations

import itertools

import pytest

from shared.lsq.models import QueueMetrics, StatusKind
from shared.service.watch_schedule import LEADSQUARED_RETRY_PAUSES, WatchPolicy

POLICY = WatchPolicy()
NOW = 10_000.0
FAR = NOW + 12 * 3600


def pause(
    status: StatusKind | None = StatusKind.IN_QUEUE, *, age: float = 0, **kw: object
) -> float:
    at = POLICY.next_check_at(status, now=NOW, created_at=NOW - age, expires_at=FAR, **kw)  # pyright: ignore[reportArgumentType]
    return at - NOW


def test_a_young_request_is_checked_often_and_an_old_one_less() -> None:
    assert pause(age=0) == POLICY.min_seconds
    assert pause(age=100) == 25
    assert pause(age=10_000) == POLICY.max_seconds
    ages = [0, 10, 60, 300, 1200, 5000]
    assert [pause(age=a) for a in ages] == sorted(pause(age=a) for a in ages)


def test_a_queue_that_drains_soon_brings_the_check_forward() -> None:
    drains = QueueMetrics(pending_messages=3, max_delay_seconds=12)
    assert pause(age=1000, metrics=drains) == 12 + POLICY.queue_margin_seconds
    empty = QueueMetrics(pending_messages=0, max_delay_seconds=0)
    assert pause(age=1000, metrics=empty) == 250  # no figure to go by: the age decides


def test_the_head_of_a_queue_is_checked_every_few_seconds() -> None:
    assert pause(age=1000, head=True) == POLICY.head_seconds


@pytest.mark.parametrize("seen_for", [0, 40, 100, 600, 3000])
def test_an_error_is_checked_just_after_each_leadsquared_retry(seen_for: float) -> None:
    retries = list(itertools.accumulate(LEADSQUARED_RETRY_PAUSES))
    wait = pause(StatusKind.ERROR, error_since=NOW - seen_for)
    check_at = seen_for + wait
    assert any(abs(check_at - (r + POLICY.retry_margin_seconds)) < 1e-9 for r in retries)
    # the retry it waits for is the first one not yet checked after
    assert all(
        r + POLICY.retry_margin_seconds <= seen_for + POLICY.min_seconds
        or r + POLICY.retry_margin_seconds >= check_at
        for r in retries
    )


def test_the_whole_error_schedule_is_about_nine_hours_and_the_expiry_outlasts_it() -> None:
    total = sum(LEADSQUARED_RETRY_PAUSES)
    assert 8.5 * 3600 < total < 9.5 * 3600
    assert POLICY.expiry_seconds > total


def test_no_check_is_scheduled_past_the_watch_s_end() -> None:
    soon = NOW + 3
    at = POLICY.next_check_at(StatusKind.IN_QUEUE, now=NOW, created_at=0, expires_at=soon)
    assert at == soon


def test_failed_checks_back_off_and_honour_retry_after() -> None:
    waits = [POLICY.after_failure(n, now=0, expires_at=1e9) for n in range(1, 8)]
    assert waits[:3] == [15, 30, 60]
    assert waits[-1] == POLICY.max_seconds
    assert POLICY.after_failure(1, now=0, expires_at=1e9, retry_after=90) == 90


def test_nonsense_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="pauses"):
        WatchPolicy(min_seconds=10, max_seconds=5)
    with pytest.raises(ValueError, match="claim_batch"):
        WatchPolicy(claim_batch=0)
