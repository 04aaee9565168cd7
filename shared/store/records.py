"""What the store hands out: plain, frozen records (no ORM object leaves the store)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Claim",
    "Delivery",
    "DeliveryOutcome",
    "NewSubscriber",
    "SubscriberRecord",
    "WatchAdded",
    "WatchCounts",
    "WatchEnd",
    "WatchKey",
    "WatchLimits",
    "WatchRecord",
]

#: how a watch ended
WatchEnd = Literal["final", "expired", "failed", "stopped"]
#: how a delivery went: told; failed for good (logged, never retried); try again later
DeliveryOutcome = Literal["sent", "failed", "retry"]


@dataclass(frozen=True, slots=True)
class WatchKey:
    """Which request a watch follows: one active watch per key."""

    account: str
    family: str
    request_id: str


@dataclass(frozen=True, slots=True)
class NewSubscriber:
    """Who to tell when a watch ends, and where (see ``SubscriberRow``).

    Attributes:
        kind: the front door that delivers (``slack``, ``mcp``, ``cli:<instance>``).
        principal: who asked (``slack:<team>:<user>``); limits count per principal.
        scope: the group the principal belongs to (``slack:<team>``); limits count per scope.
        target: where to tell, in the front door's own terms (stored as JSON).
        target_key: that place in short (same principal and place: one subscriber).
    """

    kind: str
    principal: str
    scope: str
    target: dict[str, Any] = field(default_factory=dict[str, Any])
    target_key: str = ""

    def target_json(self) -> str:
        """``target`` as stored."""
        return json.dumps(self.target, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class WatchLimits:
    """Active subscriptions one principal, and one scope, may hold (``None``: no limit)."""

    per_principal: int | None = None
    per_scope: int | None = None


@dataclass(frozen=True, slots=True)
class WatchRecord:
    """One watch as stored."""

    id: int
    key: WatchKey
    state: str
    created_at: float
    expires_at: float
    next_check_at: float
    checks: int
    last_status: str | None
    last_checked_at: float | None
    error_since: float | None
    failures: int
    ended_at: float | None
    final_view: str | None

    @property
    def active(self) -> bool:
        """Still being checked."""
        return self.state == "active"


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    """One subscriber as stored, with its watch."""

    id: int
    watch: WatchRecord
    kind: str
    principal: str
    scope: str
    target: dict[str, Any]
    target_key: str
    state: str
    created_at: float
    attempts: int
    delivered_at: float | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class WatchAdded:
    """The outcome of adding a subscriber to a watch.

    Attributes:
        watch: the watch (new, or the one already following this request).
        subscriber_id: the subscriber's id.
        new_watch: this call created the watch (else it joined one already running).
        new_subscriber: this principal was not yet told from this place (else: no change).
    """

    watch: WatchRecord
    subscriber_id: int
    new_watch: bool
    new_subscriber: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """A watch this replica leased for one check; ``token`` fences its writes."""

    watch: WatchRecord
    owner: str
    token: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """A subscriber to tell now, leased by this replica; ``token`` fences its outcome."""

    subscriber: SubscriberRecord
    owner: str
    token: int


@dataclass(frozen=True, slots=True)
class WatchCounts:
    """Figures for ``/metrics``.

    Attributes:
        active: watches being checked.
        due: active watches whose next check time has come.
        overdue: due watches more than the overdue margin late (nobody checks them).
        subscribers: subscribers by state (waiting, due, sending, sent, failed, stopped).
    """

    active: int
    due: int
    overdue: int
    subscribers: dict[str, int]
