"""Typed, tolerant models of what the LeadSquared async API answers.

Upstream keys are read case-insensitively (the docs spell ``RequestId`` and ``RequestID``,
``ProcessingRatePerMinute`` and ``ProcessingratePerMinute``). ``RequestBody`` and ``Message``
arrive as JSON-encoded strings, objects or null: all three are accepted, and text that is
not valid JSON is kept raw, with the reason it could not be read. Unknown statuses are kept
with their raw text.

Every string, and every decoded field, is bounded here (:mod:`shared.lsq.bounds`): nothing after
parsing sees more than a fixed amount of upstream data per answer, and a hostile answer (a
huge note, a body nested hundreds of levels deep) is cut, never an exception.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import MalformedResponseError
from shared.lsq.bounds import MAX_JSON_INPUT, MAX_RAW, bound_json, cut_text, within_bounds

__all__ = [
    "CaptureOutcome",
    "CaptureStatus",
    "DecodedJson",
    "OutcomeKind",
    "QueueMetrics",
    "StatusKind",
    "TaskStatus",
    "lower_keys",
    "parse_metrics",
    "parse_status",
    "text_size",
]

JsonValue = Any
_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: PostDeDupActionPerformed values with a documented meaning
DEDUP_CREATED = 1
DEDUP_DUPLICATE = 3


class StatusKind(StrEnum):
    """The status of an async request, as LeadSquared spells it."""

    IN_QUEUE = "In-Queue"
    SUCCESS = "Success"
    FAILURE = "FAILURE"
    ERROR = "ERROR"
    UNKNOWN = "unknown"

    @classmethod
    def from_raw(cls, raw: str | None) -> StatusKind:
        """Match ``raw`` case-insensitively (ignoring spaces, dashes and underscores)."""
        key = _squash(raw or "")
        for kind in (cls.IN_QUEUE, cls.SUCCESS, cls.FAILURE, cls.ERROR):
            if _squash(kind.value) == key:
                return kind
        return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        """Success and FAILURE never change again."""
        return self in (StatusKind.SUCCESS, StatusKind.FAILURE)

    @property
    def symbol(self) -> str:
        """A symbol that carries the status without relying on colour."""
        return _SYMBOLS[self]


_SYMBOLS = {
    StatusKind.IN_QUEUE: "⏳",
    StatusKind.SUCCESS: "✅",
    StatusKind.FAILURE: "❌",
    StatusKind.ERROR: "⚠️",
    StatusKind.UNKNOWN: "❓",
}


class DecodedJson(BaseModel):
    """A field that LeadSquared sends as a JSON-encoded string (or an object, or null).

    Attributes:
        present: the answer carried the field (not null or empty).
        value: the decoded JSON, bounded (see :mod:`shared.lsq.bounds`).
        raw: the text as received (bounded) when it is not JSON. Withheld (``None``) in
            masked copies: text that is not JSON cannot be masked reliably.
        unreadable: why the text could not be read as JSON, e.g. ``Expecting property name
            enclosed in double quotes (character 2)``; ``None`` when it could.
        size: the field's length in characters as received (0 when it was an object).
        cut: True when the value or the raw text was cut to its bounds.
    """

    model_config = _FROZEN

    present: bool = False
    value: JsonValue = None
    raw: str | None = None
    unreadable: str | None = None
    size: int = 0
    cut: bool = False

    @property
    def decoded(self) -> bool:
        """True when ``value`` holds parsed JSON."""
        return self.present and self.raw is None and self.unreadable is None

    @classmethod
    def from_field(cls, field: object) -> DecodedJson:
        """Decode a string, object, list or null field without ever raising.

        A string that decodes to another JSON-encoded object or array (sent encoded twice)
        is decoded once more.
        """
        if field is None:
            return cls()
        if not isinstance(field, str):
            bounded = bound_json(field)
            return cls(present=True, value=bounded.value, cut=bounded.cut)
        text = field.strip()
        if not text or text.lower() == "null":
            return cls()
        if len(text) > MAX_JSON_INPUT:
            return cls._unreadable(
                field,
                f"too large to read here ({len(text):,} characters; at most "
                f"{MAX_JSON_INPUT:,} are read)",
            )
        try:
            value = _decode_twice(json.loads(text))
        except json.JSONDecodeError as error:
            return cls._unreadable(
                field, f"not valid JSON: {error.msg} (character {error.pos + 1})"
            )
        except ValueError as error:
            return cls._unreadable(field, f"not valid JSON: {error}")
        except RecursionError:
            return cls._unreadable(field, "not valid JSON: nested too deeply to read")
        if within_bounds(text):  # an ordinary answer: nothing to cut, no need to walk it
            return cls(present=True, value=value, size=len(field))
        bounded = bound_json(value)
        return cls(present=True, value=bounded.value, size=len(field), cut=bounded.cut)

    @classmethod
    def _unreadable(cls, text: str, reason: str) -> DecodedJson:
        raw = cut_text(text, MAX_RAW)
        return cls(
            present=True,
            raw=raw,
            unreadable=reason,
            size=len(text),
            cut=raw is not text,
        )


OutcomeKind = Literal["created", "duplicate", "failed", "unknown"]


class CaptureOutcome(BaseModel):
    """What the synchronous capture did, decoded from ``TaskStatus.Message``.

    ``primary_action`` and ``secondary_action`` have no published meaning: they are kept as
    the raw numbers and must never be given labels.
    """

    model_config = _FROZEN

    kind: OutcomeKind
    created_opportunity_id: str | None = None
    conflicted_opportunity_id: str | None = None
    related_prospect_id: str | None = None
    activity_ids: tuple[str, ...] = ()
    post_dedup_actions: tuple[int, ...] = ()
    is_unique: bool | None = None
    primary_action: int | None = None
    secondary_action: int | None = None
    sync_status: int | str | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    sync_request_id: str | None = None

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> CaptureOutcome:
        """Decode the object found in ``Message`` (keys in any casing)."""
        m = lower_keys(message)
        details = m.get("additionaldetails")
        detail_items: list[Mapping[str, Any]] = []
        if isinstance(details, list):
            detail_items = [lower_keys(d) for d in details if isinstance(d, Mapping)]  # pyright: ignore[reportUnknownArgumentType,reportUnknownVariableType]
        elif isinstance(details, Mapping):
            detail_items = [lower_keys(details)]  # pyright: ignore[reportUnknownArgumentType]
        activity_ids = tuple(
            s for d in detail_items if (s := _text(d.get("activityid"))) is not None
        )
        dedup = tuple(
            n for d in detail_items if (n := _int(d.get("postdedupactionperformed"))) is not None
        )
        created = _text(m.get("createdopportunityid"))
        conflicted = _text(m.get("conflictedopportunityid"))
        exc_type = _text(m.get("exceptiontype"))
        exc_message = _text(m.get("exceptionmessage"))
        kind: OutcomeKind
        if exc_type or exc_message:
            kind = "failed"
        elif DEDUP_DUPLICATE in dedup or (conflicted and not created):
            kind = "duplicate"
        elif created:
            kind = "created"
        else:
            kind = "unknown"
        raw_status = m.get("status")
        sync_status: int | str | None
        if isinstance(raw_status, bool):
            sync_status = int(raw_status)
        elif isinstance(raw_status, int | str):
            sync_status = raw_status
        else:
            sync_status = None
        return cls(
            kind=kind,
            created_opportunity_id=created,
            conflicted_opportunity_id=conflicted,
            related_prospect_id=_text(m.get("relatedprospectid")),
            activity_ids=activity_ids,
            post_dedup_actions=dedup,
            is_unique=_bool(m.get("isunique")),
            primary_action=_int(m.get("primaryaction")),
            secondary_action=_int(m.get("secondaryaction")),
            sync_status=sync_status,
            exception_type=exc_type,
            exception_message=exc_message,
            sync_request_id=_text(m.get("requestid")),
        )


class TaskStatus(BaseModel):
    """The ``TaskStatus`` object of the status envelope."""

    model_config = _FROZEN

    task_type: str | None = None
    status: StatusKind
    status_raw: str
    status_reason: str | None = None
    current_step: str | None = None
    last_step: str | None = None
    request_body: DecodedJson = Field(default_factory=DecodedJson)
    message: DecodedJson = Field(default_factory=DecodedJson)


class CaptureStatus(BaseModel):
    """One answer of the Capture Opportunities Status API, fully decoded."""

    model_config = _FROZEN

    request_id: str
    task: TaskStatus
    #: decoded from ``Message`` when it holds an object; ``None`` otherwise
    outcome: CaptureOutcome | None = None

    @property
    def status(self) -> StatusKind:
        """Shortcut for ``task.status``."""
        return self.task.status

    @property
    def is_final(self) -> bool:
        """True when the status can no longer change."""
        return self.task.status.is_final


class QueueMetrics(BaseModel):
    """The Capture Opportunities queue, from the metrics endpoint."""

    model_config = _FROZEN

    pending_messages: int | None = None
    max_delay_seconds: float | None = None
    processing_rate_per_minute: float | None = None


def parse_status(payload: object, *, request_id: str | None = None) -> CaptureStatus:
    """Build a :class:`CaptureStatus` from the decoded JSON of a status answer.

    Raises:
        MalformedResponseError: the payload is not an object with a non-empty ``TaskStatus``
            holding a ``Status``.
    """
    if not isinstance(payload, Mapping):
        raise MalformedResponseError(
            "LeadSquared answered with JSON that is not a status object. Try again in a "
            "minute; if it persists, check LSQ_ASYNC_BASE_URL and LSQ_STATUS_PATH.",
            request_id=request_id,
        )
    envelope = lower_keys(payload)  # pyright: ignore[reportUnknownArgumentType]
    task_raw = envelope.get("taskstatus")
    if isinstance(task_raw, str):
        task_raw = DecodedJson.from_field(task_raw).value
    if not isinstance(task_raw, Mapping) or not task_raw:
        raise MalformedResponseError(
            "LeadSquared answered without a TaskStatus for this request, so there is nothing "
            "to explain yet. Check the id and the region, then try again in a minute.",
            request_id=request_id,
        )
    task = lower_keys(task_raw)  # pyright: ignore[reportUnknownArgumentType]
    status_raw = _text(task.get("status"))
    if status_raw is None:
        raise MalformedResponseError(
            "LeadSquared's answer has a TaskStatus without a Status. Try again in a minute; "
            "if it persists, report it with the RequestId.",
            request_id=request_id,
        )
    message = DecodedJson.from_field(task.get("message"))
    message_value: object = message.value
    outcome = (
        CaptureOutcome.from_message(message_value)  # pyright: ignore[reportUnknownArgumentType]
        if message.decoded and isinstance(message_value, Mapping)
        else None
    )
    # The id we asked about wins: it is the key callers and caches know the answer by.
    answered_id = _text(envelope.get("requestid"))
    return CaptureStatus(
        request_id=(request_id or answered_id or "").lower(),
        task=TaskStatus(
            task_type=_text(task.get("tasktype")),
            status=StatusKind.from_raw(status_raw),
            status_raw=status_raw,
            status_reason=_text(task.get("statusreason")),
            current_step=_text(task.get("taskcurrentstep")),
            last_step=_text(task.get("tasklaststep")),
            request_body=DecodedJson.from_field(task.get("requestbody")),
            message=message,
        ),
        outcome=outcome,
    )


def text_size(payload: object) -> int:
    """Characters of text in a status answer's envelope and TaskStatus (cheap: no parsing).

    Tells a normal answer (a few KB) from one large enough that reading and rendering it
    should leave the event loop.
    """
    if not isinstance(payload, Mapping):
        return 0
    total = 0
    for value in payload.values():  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, Mapping):
            inner = cast("Mapping[Any, Any]", value).values()
            total += sum(len(item) for item in inner if isinstance(item, str))
    return total


def parse_metrics(payload: object) -> QueueMetrics:
    """Build :class:`QueueMetrics` from the decoded JSON of a metrics answer.

    Raises:
        MalformedResponseError: the payload is not an object.
    """
    if not isinstance(payload, Mapping):
        raise MalformedResponseError(
            "LeadSquared's queue metrics answer is not a JSON object. Try again in a minute; "
            "if it persists, check LSQ_ASYNC_BASE_URL and LSQ_METRICS_PATH."
        )
    m = lower_keys(payload)  # pyright: ignore[reportUnknownArgumentType]
    pending = _number(m.get("pendingmessages"))
    return QueueMetrics(
        pending_messages=None if pending is None else int(pending),
        max_delay_seconds=_number(m.get("maxdelayinseconds")),
        processing_rate_per_minute=_number(m.get("processingrateperminute")),
    )


def _decode_twice(value: object) -> object:
    """Decode a JSON string that itself holds a JSON object or array; else keep it."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def lower_keys(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """The mapping with lower-cased string keys (the first spelling wins on a clash)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(key, str):
            out.setdefault(key.lower(), value)
    return out


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        stripped = cut_text(value.strip())
        return stripped or None
    if isinstance(value, int | float):
        return str(value)
    return None


def _int(value: object) -> int | None:
    number = _number(value)
    if number is None or number != int(number):
        return None
    return int(number)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str):
            result = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None
