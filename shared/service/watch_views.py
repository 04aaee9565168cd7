"""What the watch use cases hand to front doors, and what front doors hand back.

- :class:`WatchView`: the answer to "watch this" (watching now, or final already);
- :class:`WatchEntry`: one line of "my watches";
- :class:`WatchNotice`: a watch ended; tell this subscriber (a front door's
  :class:`Notifier` delivers it and says how it went in a :class:`DeliveryResult`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from shared.service.views import LookupView
from shared.store.records import DeliveryOutcome, SubscriberRecord, WatchEnd

__all__ = [
    "DeliveryResult",
    "Notifier",
    "WatchEntry",
    "WatchNotice",
    "WatchView",
    "describe_duration",
]


def describe_duration(seconds: float) -> str:
    """``90`` → ``1 min 30 s``; ``43200`` → ``12 h``: for people."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min" + (f" {rest} s" if rest and minutes < 10 else "")
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


class WatchView(BaseModel):
    """The answer to "tell me when this request is final".

    Attributes:
        request_id: the RequestId.
        account: the account that answered.
        watching: a watch follows it now (False: it is final already, or the id failed).
        new_watch: this call started the watch (False: it joined one already running).
        already: this person was already told about it from here (nothing changed).
        expires_at: when the watch gives up (epoch seconds), while watching.
        view: the status now, explained.
        message: one sentence for people saying what happens next.
    """

    model_config = ConfigDict(frozen=True)

    request_id: str
    account: str
    watching: bool
    new_watch: bool = False
    already: bool = False
    expires_at: float | None = None
    view: LookupView
    message: str


class WatchEntry(BaseModel):
    """One of a person's watches (for "my watches", with a Stop button each)."""

    model_config = ConfigDict(frozen=True)

    subscriber_id: int
    request_id: str
    account: str
    family: str
    last_status: str | None
    started_at: float
    expires_at: float
    last_checked_at: float | None
    next_check_at: float
    checks: int
    target: dict[str, Any]


class WatchNotice(BaseModel):
    """A watch ended: what to tell one subscriber.

    Attributes:
        subscriber_id: the subscription being told.
        kind, principal, target: who to tell and where (the front door's own terms).
        request_id, account, family: the request.
        end: how the watch ended: ``final``, ``expired`` (still not final at its end),
            ``failed`` (a check failed for good, e.g. the id is unknown).
        status: the last status seen (``None``: none was ever seen).
        view: the last answer, explained and masked (``None`` when none was kept).
        started_at, ended_at: when the subscription started and the watch ended (epoch s).
        attempts: deliveries tried so far, this one included.
        headline: one sentence for people, in the core's words.
    """

    model_config = ConfigDict(frozen=True)

    subscriber_id: int
    kind: str
    principal: str
    target: dict[str, Any]
    request_id: str
    account: str
    family: str
    end: WatchEnd
    status: str | None
    view: LookupView | None
    started_at: float
    ended_at: float
    attempts: int
    headline: str

    @classmethod
    def of(cls, subscriber: SubscriberRecord) -> WatchNotice:
        """The notice for ``subscriber`` of a watch that ended."""
        watch = subscriber.watch
        view = None
        if watch.final_view is not None:
            try:
                view = LookupView.model_validate_json(watch.final_view)
            except ValueError:
                view = None
        end: WatchEnd = watch.state if watch.state in _ENDS else "failed"
        ended_at = watch.ended_at or watch.last_checked_at or watch.created_at
        return cls(
            subscriber_id=subscriber.id,
            kind=subscriber.kind,
            principal=subscriber.principal,
            target=subscriber.target,
            request_id=watch.key.request_id,
            account=watch.key.account,
            family=watch.key.family,
            end=end,
            status=watch.last_status,
            view=view,
            started_at=subscriber.created_at,
            ended_at=ended_at,
            attempts=subscriber.attempts,
            headline=_headline(
                end, watch.key.request_id, watch.last_status, ended_at - subscriber.created_at, view
            ),
        )


_ENDS: tuple[Literal["final", "expired", "failed", "stopped"], ...] = (
    "final",
    "expired",
    "failed",
    "stopped",
)


def _headline(
    end: WatchEnd, request_id: str, status: str | None, watched: float, view: LookupView | None
) -> str:
    after = describe_duration(watched)
    if end == "final":
        return f"Capture request {request_id} is final: {status} (after {after} watching)."
    if end == "expired":
        last = f" (last status {status})" if status else ""
        return (
            f"Capture request {request_id} is still not final after {after}{last}; "
            "capture-status stopped watching it. Look it up again, or watch it again."
        )
    if end == "stopped":
        return f"capture-status stopped watching capture request {request_id}."
    why = view.explanation.headline if view is not None else "a check failed for good"
    return f"capture-status stopped watching capture request {request_id}: {why}"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How telling one subscriber went.

    Attributes:
        outcome: ``sent``; ``failed`` for good (e.g. a DM closed, a channel the app left:
            logged, the subscription ends, never retried forever); ``retry`` later.
        detail: why, in a few words (kept in the store and logs; no message text).
        retry_after: for ``retry``, seconds to wait first (e.g. Slack's Retry-After).
    """

    outcome: DeliveryOutcome
    detail: str | None = None
    retry_after: float | None = None


class Notifier(Protocol):
    """A front door's way to tell one subscriber that a watch ended."""

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        """Tell ``notice.target``; never raise for a delivery problem (return ``failed``)."""
        ...
