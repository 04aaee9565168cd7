"""Names Slack routes by (command, action ids, shortcut callback id) and button values.

Button values are echoed back by Slack and stored with the message, so they hold only
opaque RequestIds and the name of the account that answered (never PII in a value), and
are validated again when they come back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import cast

from shared import find_request_ids

__all__ = [
    "COMMAND",
    "COMMAND_PATTERN",
    "METRICS_REFRESH",
    "OPEN_PATTERN",
    "OPEN_PREFIX",
    "REFRESH",
    "SHARE",
    "SHORTCUT_CALLBACK_ID",
    "STOP_WATCH",
    "WATCH",
    "CardTarget",
    "StopTarget",
]

#: the slash command; a separate development app may register ``/capture-status-dev``
COMMAND = "/capture-status"
COMMAND_PATTERN = re.compile(r"^/capture-status(?:-dev)?$")
SHORTCUT_CALLBACK_ID = "check_capture_status"
REFRESH = "capture_status_refresh"
SHARE = "capture_status_share"
METRICS_REFRESH = "capture_status_metrics_refresh"
#: Notify me: watch the card's request (its value is a :class:`CardTarget`)
WATCH = "capture_status_watch"
#: Stop, on each of "my watches" (its value is a :class:`StopTarget`)
STOP_WATCH = "capture_status_stop_watch"
#: link buttons still send an action that must be acknowledged: ``capture_status_open_<n>``
OPEN_PREFIX = "capture_status_open"
OPEN_PATTERN = re.compile(rf"^{OPEN_PREFIX}_\d+$")
_MAX_IDS_IN_VALUE = 20
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
#: account names as the accounts file allows them (checked again against the configuration)
_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True, slots=True)
class CardTarget:
    """What a Refresh or Share button acts on.

    Attributes:
        request_id: the card the button belongs to.
        message_ids: every id of the message, in order; Refresh re-renders them all in place
            (an ephemeral message can only be replaced whole).
        shared: the message is (or will be) the redacted copy shared in the channel.
        by: who shared it (a Slack user id), kept so a refreshed copy still says so.
        fresh: the ids Refresh asks LeadSquared again, skipping the cache; empty means the
            clicked one alone. A batch's one Refresh names every id that was not final (a
            final answer never changes, so it comes from the cache).
        account: the account that answered, so Refresh and Share ask it again (``None``
            on buttons made before accounts existed: the channel's route decides).
    """

    request_id: str
    message_ids: tuple[str, ...]
    shared: bool = False
    by: str | None = None
    fresh: tuple[str, ...] = ()
    account: str | None = None

    def __post_init__(self) -> None:
        if self.fresh == (self.request_id,):  # the default, spelled out: one way to say it
            object.__setattr__(self, "fresh", ())

    @property
    def fresh_ids(self) -> tuple[str, ...]:
        """The ids to look up again without the cache (at least the clicked one)."""
        return self.fresh or (self.request_id,)

    def encode(self) -> str:
        """The button value: JSON with ids only (ten ids take about 900 of Slack's 2000)."""
        payload: dict[str, object] = {"id": self.request_id}
        if self.message_ids != (self.request_id,):
            payload["ids"] = list(self.message_ids)
        if self.fresh_ids != (self.request_id,):
            payload["fresh"] = list(self.fresh_ids)
        if self.shared:
            payload["shared"] = True
        if self.by is not None and _USER_ID.match(self.by):
            payload["by"] = self.by
        if self.account is not None and _ACCOUNT.match(self.account):
            payload["acct"] = self.account
        return json.dumps(payload, separators=(",", ":"))

    @classmethod
    def decode(cls, value: object) -> CardTarget | None:
        """Read a button value back; ``None`` when it is not one of ours."""
        if not isinstance(value, str):
            return None
        try:
            loaded: object = json.loads(value)
        except ValueError:
            return None
        if not isinstance(loaded, dict):
            return None
        data = cast("dict[str, object]", loaded)
        raw_id, raw_ids, shared = data.get("id"), data.get("ids"), data.get("shared", False)
        by, account = data.get("by"), data.get("acct")
        clicked = find_request_ids(raw_id) if isinstance(raw_id, str) else []
        if len(clicked) != 1:
            return None
        ids = _request_ids(raw_ids)
        if clicked[0] not in ids:
            ids.insert(0, clicked[0])
        ids = ids[:_MAX_IDS_IN_VALUE]
        fresh = tuple(rid for rid in _request_ids(data.get("fresh")) if rid in ids)
        return cls(
            clicked[0],
            tuple(ids),
            shared=shared is True,
            by=by if isinstance(by, str) and _USER_ID.match(by) else None,
            fresh=() if fresh == (clicked[0],) else fresh,
            account=account if isinstance(account, str) and _ACCOUNT.match(account) else None,
        )


@dataclass(frozen=True, slots=True)
class StopTarget:
    """What a Stop button of "my watches" stops: one subscription, named by its id.

    The subscription id alone decides what stops, and only among the clicker's own
    subscriptions (the service checks the principal); the RequestId is for the answer.
    """

    subscriber_id: int
    request_id: str

    def encode(self) -> str:
        """The button value: ``{"sub": <id>, "id": <RequestId>}``."""
        return json.dumps({"sub": self.subscriber_id, "id": self.request_id}, separators=(",", ":"))

    @classmethod
    def decode(cls, value: object) -> StopTarget | None:
        """Read a Stop button's value back; ``None`` when it is not one of ours."""
        if not isinstance(value, str) or len(value) > 200:
            return None
        try:
            loaded: object = json.loads(value)
        except ValueError:
            return None
        if not isinstance(loaded, dict):
            return None
        data = cast("dict[str, object]", loaded)
        sub, raw_id = data.get("sub"), data.get("id")
        if not isinstance(sub, int) or isinstance(sub, bool) or not 0 < sub < 2**63:
            return None
        found = find_request_ids(raw_id) if isinstance(raw_id, str) else []
        if len(found) != 1:
            return None
        return cls(sub, found[0])


def _request_ids(raw: object) -> list[str]:
    """The distinct RequestIds of a list in a button value; anything else is dropped."""
    ids: list[str] = []
    if isinstance(raw, list):
        for item in cast("list[object]", raw):
            found = find_request_ids(item) if isinstance(item, str) else []
            if len(found) == 1 and found[0] not in ids:
                ids.append(found[0])
    return ids
