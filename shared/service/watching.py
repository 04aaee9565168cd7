"""The watch use cases of :class:`~shared.service.capture_service.CaptureService`.

"Tell me when this request is final": the first answer comes at once, from an interactive
lookup (the person is waiting for it); only a request that is not final yet gets a watch.
An id that is already final is answered with no watch; an unknown id (or one of another
account) is answered with the explained error; the same request watched twice is one
watch with both people told; the store being down is "cannot watch right now" while
lookups keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared import defaults
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import WatchEntry, describe_duration
from shared.store import SubscriberRecord, WatchLimits

__all__ = ["WatchSettings", "entry_of", "watching_message"]

#: the family every watch follows until API families arrive (issue 12)
DEFAULT_FAMILY = "opportunity_capture"


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """How this deployment watches: the schedule and the limits per person and workspace."""

    policy: WatchPolicy = field(default_factory=WatchPolicy)
    limits: WatchLimits = field(
        default_factory=lambda: WatchLimits(
            per_principal=defaults.WATCHES_PER_USER, per_scope=defaults.WATCHES_PER_WORKSPACE
        )
    )


def watching_message(*, new_watch: bool, already: bool, expires_in: float) -> str:
    """What happens next, in one sentence, for a request now watched."""
    until = describe_duration(expires_in)
    if already:
        return (
            "You are already watching this request: you will be told once it is final "
            f"(watching for up to {until} more)."
        )
    if not new_watch:
        return (
            "Someone else is watching this request too; you will both be told once it is "
            f"final (for up to {until})."
        )
    return f"Watching: you will be told once it is final (for up to {until})."


def entry_of(subscriber: SubscriberRecord) -> WatchEntry:
    """One line of "my watches"."""
    watch = subscriber.watch
    return WatchEntry(
        subscriber_id=subscriber.id,
        request_id=watch.key.request_id,
        account=watch.key.account,
        family=watch.key.family,
        last_status=watch.last_status,
        started_at=subscriber.created_at,
        expires_at=watch.expires_at,
        last_checked_at=watch.last_checked_at,
        next_check_at=watch.next_check_at,
        checks=watch.checks,
        target=subscriber.target,
    )
