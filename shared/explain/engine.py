"""The explanation engine: one :class:`Explanation` for every status and every error.

Front doors (Slack, MCP, CLI) render the same Explanation; none of them holds LeadSquared
knowledge. Wording is for an on-call engineer: what happened, why, and what to do next,
without blame and without inventing facts. Where LeadSquared documents nothing (FAILURE
versus ERROR, how long ids stay queryable, PrimaryAction/SecondaryAction), the text says
"likely" or shows the raw value.

Every string taken from upstream goes through the :class:`~shared.explain.redact.Redactor` (masked
by default) and is truncated. Text is plain: front doors escape it for their medium.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from shared.errors import (
    AuthenticationError,
    BadRequestError,
    CaptureStatusError,
    CircuitOpenError,
    ConfigurationError,
    DeadlineExceededError,
    EndpointNotFoundError,
    InvalidRequestIdError,
    MalformedResponseError,
    RateLimitedError,
    RequestNotFoundError,
    ResponseTooLargeError,
    ServerError,
    TooManyRequestIdsError,
    TooManyWaitsError,
    TooManyWatchesError,
    UnknownAccountError,
    UnshowableAnswerError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
    WatchUnavailableError,
)
from shared.explain.facts import Fact, Link
from shared.explain.mx_exceptions import (
    RETRY_HORIZON_TEXT,
    RETRY_SCHEDULE_TEXT,
    describe_exception,
    find_exception,
)
from shared.explain.redact import DEFAULT_REDACTOR, Redactor
from shared.explain.request_summary import RequestSummary, summarize_request
from shared.lsq.ids import REQUEST_ID_EXAMPLE
from shared.lsq.models import (
    DEDUP_CREATED,
    DEDUP_DUPLICATE,
    CaptureOutcome,
    CaptureStatus,
    OutcomeKind,
    QueueMetrics,
    StatusKind,
)

__all__ = [
    "UPSTREAM_TEXT_LIMIT",
    "Explanation",
    "Fact",
    "Link",
    "Severity",
    "describe_metrics",
    "explain",
    "explain_error",
    "format_duration",
]

#: longest upstream string shown (StatusReason, exception messages, raw Message)
UPSTREAM_TEXT_LIMIT = 500
_HEADLINE_PART_LIMIT = 100
_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Severity(StrEnum):
    """How much attention an explanation needs."""

    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Explanation(BaseModel):
    """What a status (or a failed lookup) means, for people, in plain text.

    Attributes:
        request_id: the RequestId explained, when known.
        status: the status; ``None`` when explaining an error (not found, etc.).
        status_raw: the status exactly as LeadSquared sent it.
        outcome: what the capture did, when the Message could be decoded.
        severity: how much attention it needs.
        symbol: a symbol carrying the status without relying on colour.
        headline: one line, e.g. ``Opportunity created: <id>``.
        what_happened: what LeadSquared did with the request.
        why: the reason, as far as LeadSquared tells it.
        next_steps: what to do now, most useful first.
        facts: labelled values (ids, steps, reason, raw numbers, queue metrics).
        links: links into the LeadSquared web app (only when its base URL is configured).
        request_summary: what the request asked for, without PII.
        is_final: True when looking again cannot change the answer (for a status: it will
            not change any more; for an error: retrying without a change will not help).
        error_code: the ``CaptureStatusError.code`` when explaining an error.
    """

    model_config = _FROZEN

    request_id: str | None
    status: StatusKind | None
    status_raw: str | None
    outcome: OutcomeKind | None
    severity: Severity
    symbol: str
    headline: str
    what_happened: str
    why: str
    next_steps: tuple[str, ...]
    facts: tuple[Fact, ...]
    links: tuple[Link, ...]
    request_summary: RequestSummary | None
    is_final: bool
    error_code: str | None


_RESUBMIT_AFTER_MX = (
    "Resubmit the corrected request; it gets a new RequestId. LeadSquared never retries MX "
    "(application) errors, so this request will stay FAILURE."
)
_RESUBMIT_AFTER_FAILURE = (
    "Resubmit the corrected request; it gets a new RequestId. FAILURE is final: LeadSquared "
    "will not retry this request."
)
_FINAL_STEP = "The status is final: checking again will show the same result."


def format_duration(seconds: float) -> str:
    """Render a duration for people: ``under 1 s``, ``45 s``, ``2 min``, ``1 h 30 min``.

    Args:
        seconds: a non-negative duration; negative or non-finite values read as unknown.

    Returns:
        The rounded duration, or ``an unknown time`` for an unusable value.
    """
    if not math.isfinite(seconds) or seconds < 0:
        return "an unknown time"
    if seconds < 1:
        return "under 1 s"
    if seconds < 59.5:
        return f"{round(seconds)} s"
    if seconds < 3570:
        return f"{round(seconds / 60)} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def describe_metrics(metrics: QueueMetrics) -> str:
    """Read the queue metrics in one line.

    Args:
        metrics: the Capture Opportunities queue metrics.

    Returns:
        e.g. ``3 requests ahead, worst-case delay ~2 min, processing ~25/min``,
        ``queue is empty, processing ~24.8/min``, or a sentence saying the metrics held no
        usable values.
    """
    parts: list[str] = []
    pending = metrics.pending_messages
    if pending is not None and pending >= 0:
        if pending == 0:
            parts.append("queue is empty")
        else:
            parts.append(f"{pending} request{'s' if pending != 1 else ''} ahead")
    delay = metrics.max_delay_seconds
    if delay is not None and delay >= 0:
        parts.append(f"worst-case delay {_approximately(delay)}")
    rate = metrics.processing_rate_per_minute
    if rate is not None and rate >= 0:
        parts.append(f"processing ~{_rate(rate)}/min")
    if not parts:
        return "queue metrics unavailable (LeadSquared sent no usable values)"
    return ", ".join(parts)


def explain(
    status: CaptureStatus,
    metrics: QueueMetrics | None = None,
    *,
    app_base_url: str | None = None,
    redactor: Redactor = DEFAULT_REDACTOR,
) -> Explanation:
    """Explain one status answer.

    Args:
        status: the decoded status answer.
        metrics: queue metrics, used to explain an ``In-Queue`` status.
        app_base_url: the LeadSquared web-app base (e.g. ``https://run.leadsquared.com``);
            links are added only when it is set.
        redactor: masks PII in everything taken from upstream (masking on by default).

    Returns:
        The explanation; it never raises for any shape of status.
    """
    context = _Context(
        status=status,
        redactor=redactor,
        summary=summarize_request(status.task.request_body, redactor),
    )
    kind = status.task.status
    if kind is StatusKind.SUCCESS:
        story = _success(context)
    elif kind is StatusKind.FAILURE:
        story = _failure(context)
    elif kind is StatusKind.ERROR:
        story = _system_error(context)
    elif kind is StatusKind.IN_QUEUE:
        story = _in_queue(context, metrics)
    else:
        story = _unknown_status(context)
    facts = [*_status_facts(context), *story.facts]
    if status.outcome is not None:
        facts += _outcome_facts(status.outcome, context)
    return Explanation(
        request_id=context.request_id or None,
        status=kind,
        status_raw=context.upstream(status.task.status_raw, _HEADLINE_PART_LIMIT),
        outcome=status.outcome.kind if status.outcome is not None else None,
        severity=story.severity,
        symbol=kind.symbol,
        headline=story.headline,
        what_happened=story.what_happened,
        why=story.why,
        next_steps=story.next_steps,
        facts=tuple(facts),
        links=_links(context, app_base_url),
        request_summary=context.summary,
        is_final=status.is_final,
        error_code=None,
    )


def explain_error(
    error: CaptureStatusError,
    *,
    request_id: str | None = None,
    redactor: Redactor = DEFAULT_REDACTOR,
) -> Explanation:
    """Explain a lookup that ended in an error instead of a status.

    Args:
        error: any error of the capture-status tree.
        request_id: the RequestId looked up, when the error does not carry it.
        redactor: masks PII that upstream text may have put into the error message.

    Returns:
        The explanation: the error's own message as what happened, plus the likely causes
        and next steps for its class. No traceback is included.
    """
    guide = _error_guide(error)
    rid = error.request_id or request_id
    facts = [Fact(label="Error", value=error.code)]
    if error.http_status is not None:
        facts.append(Fact(label="HTTP status", value=str(error.http_status)))
    if error.retry_after is not None and error.retry_after >= 0:
        facts.append(Fact(label="Retry after", value=_wait_text(error.retry_after)))
    steps = list(guide.next_steps)
    if rid and guide.quote_request_id:
        steps.append(f"When reporting it, quote RequestId {redactor.shown(rid, 80)}.")
    return Explanation(
        request_id=redactor.shown(rid, 80) if rid else None,
        status=None,
        status_raw=None,
        outcome=None,
        severity=guide.severity,
        symbol=guide.symbol,
        headline=guide.headline,
        what_happened=redactor.shown(error.message, UPSTREAM_TEXT_LIMIT),
        why=guide.why,
        next_steps=tuple(steps),
        facts=tuple(facts),
        links=(),
        request_summary=None,
        is_final=guide.final,
        error_code=error.code,
    )


# --- statuses -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
    status: CaptureStatus
    redactor: Redactor
    summary: RequestSummary | None

    def upstream(self, text: str, limit: int = UPSTREAM_TEXT_LIMIT) -> str:
        """Mask, then truncate, a string that came from LeadSquared."""
        return self.redactor.shown(text, limit)

    @property
    def request_id(self) -> str:
        return self.upstream(self.status.request_id, _HEADLINE_PART_LIMIT)

    @property
    def reason(self) -> str | None:
        reason = self.status.task.status_reason
        return self.upstream(reason) if reason else None

    @property
    def search_by(self) -> str | None:
        return self.summary.search_by if self.summary else None


@dataclass(frozen=True, slots=True)
class _Story:
    severity: Severity
    headline: str
    what_happened: str
    why: str
    next_steps: tuple[str, ...]
    facts: tuple[Fact, ...] = ()


def _success(context: _Context) -> _Story:
    outcome = context.status.outcome
    if outcome is None:
        return _success_without_details(context)
    if outcome.kind == "created":
        return _created(context, outcome)
    if outcome.kind == "duplicate":
        return _duplicate(context, outcome)
    if outcome.kind == "failed":
        return _success_with_exception(context, outcome)
    return _Story(
        severity=Severity.INFO,
        headline="Succeeded, but the response names no opportunity",
        what_happened=(
            "LeadSquared marks the request Success, but its capture response names neither "
            "a created nor an existing opportunity."
        ),
        why=(
            "The response holds no CreatedOpportunityId or ConflictedOpportunityId; its "
            "values are listed below as LeadSquared sent them, without interpretation."
        ),
        next_steps=(
            _find_on_lead_step(context),
            _FINAL_STEP,
        ),
    )


def _created(context: _Context, outcome: CaptureOutcome) -> _Story:
    opportunity = context.upstream(outcome.created_opportunity_id or "", _HEADLINE_PART_LIMIT)
    lead = outcome.related_prospect_id
    on_lead = f" on lead {context.upstream(lead, _HEADLINE_PART_LIMIT)}" if lead else ""
    what = f"LeadSquared processed the request and created opportunity {opportunity}{on_lead}."
    if outcome.activity_ids:
        activities = ", ".join(
            context.upstream(a, _HEADLINE_PART_LIMIT) for a in outcome.activity_ids
        )
        what += f" Activity posted on the lead: {activities}."
    if DEDUP_CREATED in outcome.post_dedup_actions:
        why = (
            "Duplicate detection found no matching opportunity (PostDeDupActionPerformed 1), "
            "so a new one was created."
        )
    else:
        why = "The capture response names the new opportunity (CreatedOpportunityId)."
    if lead:
        searched = f" ({context.search_by})" if context.search_by else ""
        why += (
            f" RelatedProspectId is the lead it belongs to; if no lead matched the search "
            f"key{searched}, LeadSquared may have created that lead as well."
        )
    return _Story(
        severity=Severity.OK,
        headline=f"Opportunity created: {opportunity}",
        what_happened=what,
        why=why,
        next_steps=(
            "Nothing to fix: the opportunity exists. Open it in LeadSquared to check its fields.",
            _FINAL_STEP,
        ),
    )


def _duplicate(context: _Context, outcome: CaptureOutcome) -> _Story:
    conflicted = outcome.conflicted_opportunity_id
    existing = context.upstream(conflicted, _HEADLINE_PART_LIMIT) if conflicted else None
    headline = (
        f"Duplicate: no new opportunity; matches existing {existing}"
        if existing
        else "Duplicate detected: no new opportunity was created"
    )
    lead = outcome.related_prospect_id
    on_lead = f" on lead {context.upstream(lead, _HEADLINE_PART_LIMIT)}" if lead else ""
    matched = f"the existing opportunity {existing}" if existing else "an existing opportunity"
    what = (
        f"LeadSquared's duplicate detection matched {matched}{on_lead}, so no new "
        "opportunity was created."
    )
    if DEDUP_DUPLICATE in outcome.post_dedup_actions:
        what += (
            " A duplicate-detected activity was posted on the lead (PostDeDupActionPerformed 3)."
        )
    why = (
        "The duplicate detection rules of this opportunity type treat the request as the "
        f"same opportunity as {existing or 'an existing one'}."
    )
    if outcome.is_unique is not None:
        why += (
            f" IsUnique reads {str(outcome.is_unique).lower()}; it is reported to read true "
            "even for duplicates when no duplicate rules are configured, so do not rely on it "
            "alone."
        )
    target = f"opportunity {existing}" if existing else "the existing opportunity"
    return _Story(
        severity=Severity.WARNING,
        headline=headline,
        what_happened=what,
        why=why,
        next_steps=(
            f"If the intent was to change the existing opportunity, update {target} "
            "(for example with the Update Opportunity API) instead of capturing it again.",
            "If a new opportunity was intended, review the duplicate detection rules of this "
            "opportunity type in LeadSquared (or the field values they compare), then "
            "resubmit; the resubmission gets a new RequestId.",
            _FINAL_STEP,
        ),
    )


def _success_with_exception(context: _Context, outcome: CaptureOutcome) -> _Story:
    name = find_exception(
        outcome.exception_type, outcome.exception_message, context.status.task.status_reason
    )
    shown = context.upstream(name, _HEADLINE_PART_LIMIT) if name else None
    known = describe_exception(name) if name else None
    why = _exception_why(context, outcome, name, shown)
    steps: list[str] = []
    if known:
        steps.append(known.fix)
    steps += [
        "Check on the lead in LeadSquared whether the opportunity was captured before "
        "resubmitting, to avoid a duplicate.",
        "If it was not, fix the request and resubmit it; the resubmission gets a new RequestId.",
        _FINAL_STEP,
    ]
    return _Story(
        severity=Severity.ERROR,
        headline=f"Success reported, but the capture response carries {shown or 'an exception'}",
        what_happened=(
            "LeadSquared marks the request Success, yet its capture response carries an "
            "exception, so the opportunity may not have been captured."
        ),
        why=why,
        next_steps=tuple(steps),
    )


def _success_without_details(context: _Context) -> _Story:
    message = context.status.task.message
    facts: list[Fact] = []
    if not message.present:
        headline = "Succeeded; LeadSquared sent no result details"
        what = (
            "LeadSquared reports the request completed successfully, but its Message (the "
            "capture response) is empty, so the opportunity and lead ids are not known here."
        )
    else:
        headline = "Succeeded, but the result details could not be read"
        if message.unreadable is not None:
            what = (
                "LeadSquared reports the request completed successfully, but its Message (the "
                "capture response) is not valid JSON, so the opportunity and lead ids are not "
                f"known here ({message.unreadable}, {message.size:,} characters)."
            )
            raw_text = message.raw
            if raw_text is not None:
                what += " The raw text is kept below (masked)."
        else:
            what = (
                "LeadSquared reports the request completed successfully, but its Message (the "
                "capture response) is not a JSON object, so the opportunity and lead ids are "
                "not known here. Its content is kept below (masked)."
            )
            raw_text = json.dumps(context.redactor.json(message.value), ensure_ascii=False)
        if raw_text is not None:
            facts.append(Fact(label="Message (raw)", value=context.upstream(raw_text)))
    return _Story(
        severity=Severity.INFO,
        headline=headline,
        what_happened=what,
        why=(
            "The Success status says the capture was processed; only the details of its "
            "result are missing."
        ),
        next_steps=(_find_on_lead_step(context), _FINAL_STEP),
        facts=tuple(facts),
    )


def _failure(context: _Context) -> _Story:
    outcome = context.status.outcome
    exc_type = outcome.exception_type if outcome else None
    exc_message = outcome.exception_message if outcome else None
    reason_raw = context.status.task.status_reason
    name = find_exception(exc_type, exc_message, reason_raw)
    shown = context.upstream(name, _HEADLINE_PART_LIMIT) if name else None
    known = describe_exception(name) if name else None
    what = (
        "LeadSquared stopped processing this request with a failure; the capture did not go "
        "through."
    )
    why = _exception_why(context, outcome, name, shown)
    if known:
        return _Story(
            severity=Severity.ERROR,
            headline=f"Failed: {known.name}",
            what_happened=what,
            why=why,
            next_steps=(known.fix, _RESUBMIT_AFTER_MX),
        )
    if shown:
        return _Story(
            severity=Severity.ERROR,
            headline=f"Failed: {shown} (not in this tool's catalogue)",
            what_happened=what,
            why=why,
            next_steps=(
                "Read the reason and exception message above to see what LeadSquared "
                "rejected, and fix the request.",
                _RESUBMIT_AFTER_MX,
                f"If the reason is unclear, ask LeadSquared support what {shown} means, "
                f"quoting RequestId {context.request_id}.",
            ),
        )
    reason = context.reason
    headline = (
        f"Failed: {context.upstream(reason_raw or '', _HEADLINE_PART_LIMIT)}"
        if reason
        else "Failed; LeadSquared gave no reason"
    )
    first_step = (
        "Fix the request according to the reason above."
        if reason or exc_message
        else "Check the request body (summary below) against the opportunity type's "
        "mandatory fields, or ask LeadSquared support why it failed, quoting "
        f"RequestId {context.request_id}."
    )
    return _Story(
        severity=Severity.ERROR,
        headline=headline,
        what_happened=what,
        why=why,
        next_steps=(first_step, _RESUBMIT_AFTER_FAILURE),
    )


def _system_error(context: _Context) -> _Story:
    outcome = context.status.outcome
    name = find_exception(
        outcome.exception_type if outcome else None,
        outcome.exception_message if outcome else None,
        context.status.task.status_reason,
    )
    known = describe_exception(name) if name else None
    reason = context.reason
    why = (
        "LeadSquared reports ERROR, which most likely means a system error (such as an "
        "unreachable database) rather than a problem with the request; the difference between "
        "ERROR and FAILURE is not documented. LeadSquared retries system errors by itself, up "
        f"to 10 times, after {RETRY_SCHEDULE_TEXT}: {RETRY_HORIZON_TEXT} in all."
    )
    if reason:
        why += f" Reason given: {_sentence(reason)}"
    rid = context.request_id
    if name:
        shown = context.upstream(name, _HEADLINE_PART_LIMIT)
        meaning = f" ({known.meaning})" if known else ""
        why += (
            f" However, it names {shown}{meaning}, an application error, and LeadSquared does "
            "not retry those: this request will likely not change."
        )
        steps = (
            known.fix if known else "Fix the request according to the reason above.",
            "Resubmit the corrected request; it gets a new RequestId.",
            f"If the request was valid, escalate to LeadSquared support with RequestId {rid}.",
        )
        headline = f"Error: {shown}; LeadSquared will likely not retry it"
    else:
        steps = (
            "Wait and check again later: the status should move to Success or FAILURE as "
            "LeadSquared retries.",
            "Do not resubmit yet: if LeadSquared's own retry succeeds, a resubmission could "
            "capture a duplicate.",
            f"If it still shows ERROR {RETRY_HORIZON_TEXT} after it was submitted, escalate to "
            f"LeadSquared support with RequestId {rid} and the reason shown.",
        )
        headline = "System error: LeadSquared will likely retry it"
    return _Story(
        severity=Severity.WARNING,
        headline=headline,
        what_happened=(
            "LeadSquared hit an error while processing this request and has not captured the "
            "opportunity yet."
        ),
        why=why,
        next_steps=steps,
    )


def _in_queue(context: _Context, metrics: QueueMetrics | None) -> _Story:
    what = (
        "LeadSquared accepted the request and it is waiting in the Capture Opportunities "
        "queue. It has not been processed yet, so nothing has been created."
    )
    if metrics is None:
        return _Story(
            severity=Severity.INFO,
            headline="Waiting in the queue",
            what_happened=what,
            why=(
                "Requests wait until LeadSquared's processors reach them, at a capped rate. "
                "Queue metrics were not fetched, so how long it will wait is not known here."
            ),
            next_steps=(
                "Fetch the queue metrics (the metrics command or tool) to see how many "
                "requests are ahead and the worst-case delay.",
                "Check again in a minute.",
            ),
        )
    reading = describe_metrics(metrics)
    why = f"Queue now: {reading}."
    pending = metrics.pending_messages
    rate = metrics.processing_rate_per_minute
    if pending is not None and pending > 0 and rate is not None:
        if rate > 0:
            estimate = pending / rate * 60
            why += (
                f" At ~{_rate(rate)}/min, the {pending} queued request"
                f"{'s' if pending != 1 else ''} take about {format_duration(estimate)}."
            )
        elif rate == 0:
            why += " Nothing was processed in the last 10 minutes: the queue may be stalled."
    why += " LeadSquared caps the processing rate; it does not scale up with the backlog."
    delay = metrics.max_delay_seconds
    wait = max(delay, 30.0) if delay is not None and delay >= 0 else 60.0
    steps = [f"Check again in about {format_duration(wait)}."]
    if delay is not None and delay >= 0:
        steps.append(
            "If it is still In-Queue well after the worst-case delay, contact LeadSquared "
            f"support with RequestId {context.request_id}."
        )
    else:
        steps.append(
            "If it stays In-Queue for hours, contact LeadSquared support with RequestId "
            f"{context.request_id}."
        )
    headline = "Waiting in the queue"
    if pending is not None and pending > 0:
        headline += f" ({pending} request{'s' if pending != 1 else ''} ahead)"
    return _Story(
        severity=Severity.INFO,
        headline=headline,
        what_happened=what,
        why=why,
        next_steps=tuple(steps),
        facts=tuple(_metrics_facts(metrics)),
    )


def _unknown_status(context: _Context) -> _Story:
    raw = context.upstream(context.status.task.status_raw, _HEADLINE_PART_LIMIT)
    why = (
        "This tool knows In-Queue, Success, FAILURE and ERROR, and does not guess what "
        "another status means."
    )
    if context.reason:
        why += f" Reason given: {_sentence(context.reason)}"
    return _Story(
        severity=Severity.WARNING,
        headline=f"Unrecognised status: {raw}",
        what_happened=f'LeadSquared returned the status "{raw}", which this tool does not know.',
        why=why,
        next_steps=(
            "Check again in a few minutes: the status may move on to one this tool knows.",
            f'If it stays, ask LeadSquared support what "{raw}" means, quoting RequestId '
            f"{context.request_id}.",
        ),
    )


def _exception_why(
    context: _Context, outcome: CaptureOutcome | None, name: str | None, shown: str | None
) -> str:
    known = describe_exception(name) if name else None
    parts: list[str] = []
    if known:
        parts.append(f"{known.name}: {known.meaning}")
    elif shown:
        parts.append(
            f"LeadSquared reported {shown}, which this tool does not know, so it is not "
            "interpreted here."
        )
    if context.reason:
        parts.append(f"Reason given: {context.reason}")
    if outcome and outcome.exception_message:
        parts.append(f"Exception message: {context.upstream(outcome.exception_message)}")
    if not parts:
        return "LeadSquared gave no reason and no exception name."
    return " ".join(_sentence(part) for part in parts)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def _find_on_lead_step(context: _Context) -> str:
    searched = f" (the request searched leads by {context.search_by})" if context.search_by else ""
    return f"Find the opportunity on the lead in LeadSquared{searched}."


def _status_facts(context: _Context) -> list[Fact]:
    task = context.status.task
    facts: list[Fact] = []
    if task.status_raw != task.status.value:
        facts.append(Fact(label="Status (as sent)", value=context.upstream(task.status_raw)))
    if task.task_type:
        facts.append(Fact(label="Task type", value=context.upstream(task.task_type)))
    if context.reason:
        facts.append(Fact(label="Status reason", value=context.reason))
    if task.current_step:
        facts.append(Fact(label="Current step", value=context.upstream(task.current_step)))
    if task.last_step:
        facts.append(Fact(label="Last step", value=context.upstream(task.last_step)))
    return facts


def _outcome_facts(outcome: CaptureOutcome, context: _Context) -> list[Fact]:
    up = context.upstream
    facts: list[Fact] = []
    if outcome.created_opportunity_id:
        facts.append(
            Fact(
                label="Opportunity id (CreatedOpportunityId)",
                value=up(outcome.created_opportunity_id),
            )
        )
    if outcome.conflicted_opportunity_id:
        facts.append(
            Fact(
                label="Existing opportunity (ConflictedOpportunityId)",
                value=up(outcome.conflicted_opportunity_id),
            )
        )
    if outcome.related_prospect_id:
        facts.append(
            Fact(label="Lead id (RelatedProspectId)", value=up(outcome.related_prospect_id))
        )
    if outcome.activity_ids:
        label = "Activity id" if len(outcome.activity_ids) == 1 else "Activity ids"
        facts.append(Fact(label=label, value=", ".join(up(a) for a in outcome.activity_ids)))
    if outcome.post_dedup_actions:
        facts.append(
            Fact(
                label="PostDeDupActionPerformed",
                value=", ".join(str(n) for n in outcome.post_dedup_actions),
            )
        )
    if outcome.is_unique is not None:
        facts.append(Fact(label="IsUnique", value=str(outcome.is_unique).lower()))
    # No published meaning: raw numbers only, never labels.
    if outcome.primary_action is not None:
        facts.append(Fact(label="PrimaryAction (raw)", value=str(outcome.primary_action)))
    if outcome.secondary_action is not None:
        facts.append(Fact(label="SecondaryAction (raw)", value=str(outcome.secondary_action)))
    if outcome.sync_status is not None:
        facts.append(Fact(label="Message Status (raw)", value=up(str(outcome.sync_status))))
    if outcome.exception_type:
        facts.append(Fact(label="ExceptionType", value=up(outcome.exception_type)))
    if outcome.exception_message:
        facts.append(Fact(label="ExceptionMessage", value=up(outcome.exception_message)))
    if outcome.sync_request_id:
        facts.append(Fact(label="Sync call RequestId", value=up(outcome.sync_request_id)))
    return facts


def _metrics_facts(metrics: QueueMetrics) -> list[Fact]:
    facts: list[Fact] = []
    if metrics.pending_messages is not None:
        facts.append(Fact(label="Requests in queue", value=str(metrics.pending_messages)))
    if metrics.max_delay_seconds is not None:
        facts.append(
            Fact(label="Worst-case delay", value=_approximately(metrics.max_delay_seconds))
        )
    if metrics.processing_rate_per_minute is not None:
        facts.append(
            Fact(
                label="Processing rate (10-min average)",
                value=f"~{_rate(metrics.processing_rate_per_minute)}/min",
            )
        )
    return facts


def _links(context: _Context, app_base_url: str | None) -> tuple[Link, ...]:
    outcome = context.status.outcome
    base = (app_base_url or "").strip().rstrip("/")
    if not base or outcome is None:
        return ()
    if "://" not in base:
        base = f"https://{base}"
    event_code = context.summary.opportunity_event_code if context.summary else None
    links: list[Link] = []

    def opportunity_link(label: str, opportunity_id: str) -> Link:
        url = (
            f"{base}/OpportunityManagement/OpportunityDetails"
            f"?opportunityId={_query(context, opportunity_id)}"
        )
        if event_code is not None:
            url += f"&opportunityEvent={event_code}"
        return Link(label=label, url=url)

    if outcome.created_opportunity_id:
        links.append(opportunity_link("Opportunity in LeadSquared", outcome.created_opportunity_id))
    if outcome.conflicted_opportunity_id:
        links.append(
            opportunity_link(
                "Existing (conflicting) opportunity in LeadSquared",
                outcome.conflicted_opportunity_id,
            )
        )
    if outcome.related_prospect_id:
        lead = _query(context, outcome.related_prospect_id)
        links.append(
            Link(
                label="Lead in LeadSquared",
                url=f"{base}/LeadManagement/LeadDetails?LeadID={lead}",
            )
        )
    return tuple(links)


def _query(context: _Context, value: str) -> str:
    # Ids are GUIDs and survive masking; masking still guards against PII in odd ids.
    return quote(context.redactor.text(value.strip()), safe="")


def _approximately(seconds: float) -> str:
    text = format_duration(seconds)
    return text if text.startswith(("under", "an unknown")) else f"~{text}"


def _rate(rate: float) -> str:
    return f"{round(rate, 1):g}"


def _wait_text(seconds: float) -> str:
    return format_duration(math.ceil(seconds)) if seconds >= 1 else "under 1 s"


# --- errors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ErrorGuide:
    symbol: str
    severity: Severity
    headline: str
    why: str
    next_steps: Sequence[str]
    final: bool
    quote_request_id: bool = False


def _retry_when(error: CaptureStatusError, otherwise: str) -> str:
    if error.retry_after is not None and error.retry_after >= 0:
        return f"in {_wait_text(error.retry_after)}"
    return otherwise


def _error_guide(error: CaptureStatusError) -> _ErrorGuide:
    if isinstance(error, RequestNotFoundError):
        return _ErrorGuide(
            symbol="🔍",
            severity=Severity.WARNING,
            headline="No request with this id was found",
            why=(
                "LeadSquared has no request with this id on the host that was asked. Three "
                "causes are possible and the API does not say which: the wrong region or host "
                "(a RequestId exists only in the region it was submitted to), a typo in the "
                "id, or an id that has expired (how long ids stay queryable is not documented)."
            ),
            next_steps=(
                "Compare the id with the RequestID returned when the capture was submitted.",
                "Check that LSQ_REGION or LSQ_ASYNC_BASE_URL point at the region the request "
                "was submitted to.",
                "If the request is old, it may have expired: look for the opportunity on the "
                "lead in LeadSquared instead.",
            ),
            final=True,
        )
    if isinstance(error, AuthenticationError):
        return _ErrorGuide(
            symbol="🔒",
            severity=Severity.ERROR,
            headline="LeadSquared refused this tool's API key",
            why=(
                "The x-api-key was refused: it is wrong, its user is deactivated, or it "
                "belongs to another region (a key only works on its own region's async host)."
            ),
            next_steps=(
                "Tell an admin of this tool: check LSQ_API_KEY (the async API key) and "
                "LSQ_REGION or LSQ_ASYNC_BASE_URL.",
            ),
            final=True,
        )
    if isinstance(error, RateLimitedError):
        return _ErrorGuide(
            symbol="🐢",
            severity=Severity.WARNING,
            headline="LeadSquared is throttling requests",
            why=(
                "The account's API budget (a fixed number of calls every few seconds, shared "
                "with every other integration on the account) is used up for now."
            ),
            next_steps=(
                f"Try again {_retry_when(error, 'in a few seconds')}.",
                "If it keeps happening, another integration may be using most of the budget; "
                "ask an admin to lower this tool's rate budget or spread the load.",
            ),
            final=False,
        )
    if isinstance(
        error,
        ServerError
        | UpstreamTimeoutError
        | UpstreamConnectionError
        | CircuitOpenError
        | DeadlineExceededError,
    ):
        return _unreachable_guide(error)
    if isinstance(error, EndpointNotFoundError):
        return _ErrorGuide(
            symbol="🧭",
            severity=Severity.ERROR,
            headline="The status endpoint was not found",
            why=(
                "The gateway answered 404 on every candidate status path, so the host or the "
                "path is wrong. LeadSquared's docs do not preserve the status path."
            ),
            next_steps=(
                "Tell an admin of this tool: check LSQ_STATUS_PATH (default "
                "/opportunity/status; the alternative is /opportunity/capture/status) and "
                "LSQ_REGION or LSQ_ASYNC_BASE_URL.",
            ),
            final=True,
        )
    if isinstance(error, UnshowableAnswerError):
        return _ErrorGuide(
            symbol="🧩",
            severity=Severity.WARNING,
            headline="LeadSquared's answer could not be shown",
            why=(
                "The answer was read, but its content is malformed in a way that cannot be "
                "explained safely (only this request is affected; it was not cached)."
            ),
            next_steps=(
                "Try again in a minute: the next lookup asks LeadSquared afresh.",
                "If it persists, report it to the capture-status maintainers with the RequestId.",
            ),
            final=False,
            quote_request_id=True,
        )
    if isinstance(error, ResponseTooLargeError):
        return _ErrorGuide(
            symbol="📦",
            severity=Severity.ERROR,
            headline="LeadSquared's answer was too large to read",
            why=(
                "A status answer is a few KB; this one went past the size limit, so it was not "
                "read. Something other than LeadSquared's async API is probably answering: a "
                "wrong LSQ_ASYNC_BASE_URL, or a proxy on the way."
            ),
            next_steps=(
                "Tell an admin of this tool: check that LSQ_ASYNC_BASE_URL (or LSQ_REGION) "
                "points at LeadSquared's async host, directly or through the intended proxy.",
                "If it does, report this to the maintainers of this tool.",
            ),
            final=True,
            quote_request_id=True,
        )
    if isinstance(error, MalformedResponseError):
        return _ErrorGuide(
            symbol="🧩",
            severity=Severity.WARNING,
            headline="LeadSquared's answer could not be read",
            why=(
                "The answer was empty, not JSON, or not shaped like a status. A proxy, a "
                "wrong host or a passing fault upstream can cause this."
            ),
            next_steps=(
                "Try again in a minute.",
                "If it persists, check LSQ_ASYNC_BASE_URL and LSQ_STATUS_PATH, then report it "
                "to LeadSquared support.",
            ),
            final=False,
            quote_request_id=True,
        )
    if isinstance(error, BadRequestError):
        return _ErrorGuide(
            symbol="🚫",
            severity=Severity.ERROR,
            headline="LeadSquared rejected the status request",
            why="LeadSquared answered 400: it considers the status request not per its spec.",
            next_steps=(
                f"Check that the id is a RequestId (a GUID like {REQUEST_ID_EXAMPLE}).",
                "If it is, report this to the maintainers of this tool.",
            ),
            final=True,
            quote_request_id=True,
        )
    if isinstance(error, UpstreamError):
        return _ErrorGuide(
            symbol="⚠️",
            severity=Severity.WARNING,
            headline="LeadSquared did not give a usable answer",
            why="The lookup reached LeadSquared, or tried to, but got no answer it could use.",
            next_steps=(f"Try again {_retry_when(error, 'in a minute')}.",),
            final=not error.retryable,
            quote_request_id=True,
        )
    if isinstance(error, InvalidRequestIdError):
        return _ErrorGuide(
            symbol="✏️",
            severity=Severity.WARNING,
            headline="That is not a LeadSquared RequestId",
            why=(
                f"A RequestId is a GUID such as {REQUEST_ID_EXAMPLE}: the RequestID the async "
                "API returned when the capture was queued."
            ),
            next_steps=(
                "Paste the RequestID alone, or inside the URL or log line that contains it.",
            ),
            final=True,
        )
    if isinstance(error, TooManyRequestIdsError):
        return _ErrorGuide(
            symbol="✋",
            severity=Severity.WARNING,
            headline="Too many RequestIds at once",
            why="More ids were asked for in one go than this tool accepts.",
            next_steps=("Look them up in smaller batches.",),
            final=True,
        )
    if isinstance(error, TooManyWaitsError):
        return _ErrorGuide(
            symbol="⏳",
            severity=Severity.WARNING,
            headline="Too many waits running at once",
            why=(
                "This caller already runs as many waits as one caller may, so that one "
                "client cannot hold the account's budget."
            ),
            next_steps=(
                "Let one of the running waits end, then wait again.",
                "Or look the request up now and check it again later.",
            ),
            final=False,
        )
    if isinstance(error, TooManyWatchesError):
        return _ErrorGuide(
            symbol="✋",
            severity=Severity.WARNING,
            headline="Too many watches",
            why=(
                "Watches are limited per person and per workspace, so that watching cannot "
                "take the account's budget from people looking requests up now."
            ),
            next_steps=("Stop a watch you no longer need, or wait for one to finish.",),
            final=True,
        )
    if isinstance(error, WatchUnavailableError):
        return _ErrorGuide(
            symbol="🔕",
            severity=Severity.WARNING,
            headline="capture-status cannot watch right now",
            why=(
                "Watches are kept in a database that is not answering (or not set up) here; "
                "lookups do not need it and keep working."
            ),
            next_steps=(
                "Look the request up again meanwhile, and try watching again in a few minutes.",
            ),
            final=False,
        )
    if isinstance(error, UnknownAccountError):
        return _ErrorGuide(
            symbol="🏷️",
            severity=Severity.WARNING,
            headline="No such LeadSquared account here",
            why="Each answer comes from one configured LeadSquared account, and that one is "
            "not configured here or not open to you.",
            next_steps=("Name one of the accounts listed above, or leave the account out.",),
            final=True,
        )
    if isinstance(error, ConfigurationError):
        return _ErrorGuide(
            symbol="⚙️",
            severity=Severity.ERROR,
            headline="capture-status is not configured correctly",
            why="A setting is missing or invalid, so no lookup can be made.",
            next_steps=(
                "Tell an admin of this tool: fix the settings named above, then restart it.",
            ),
            final=True,
        )
    return _ErrorGuide(
        symbol="⚠️",
        severity=Severity.ERROR,
        headline="The lookup failed",
        why="The lookup stopped with an error; the message above says what happened.",
        next_steps=(
            f"Try again {_retry_when(error, 'in a minute')}."
            if error.retryable
            else "Follow the message above; if it is unclear, report it to the maintainers of "
            "this tool.",
        ),
        final=not error.retryable,
    )


def _unreachable_guide(error: CaptureStatusError) -> _ErrorGuide:
    if isinstance(error, ServerError):
        status = f" (HTTP {error.http_status})" if error.http_status else ""
        headline = f"LeadSquared answered with a server error{status}"
        why = "LeadSquared failed while answering; this is usually temporary."
    elif isinstance(error, UpstreamTimeoutError):
        headline = "LeadSquared did not answer in time"
        why = "LeadSquared is slow or unreachable right now; this is usually temporary."
    elif isinstance(error, UpstreamConnectionError):
        headline = "Could not reach LeadSquared"
        why = (
            "The connection to LeadSquared could not be made or was cut: a network problem, "
            "an outage, or a wrong host in LSQ_REGION or LSQ_ASYNC_BASE_URL."
        )
    elif isinstance(error, CircuitOpenError):
        headline = "LeadSquared keeps failing; lookups are paused briefly"
        why = (
            "Several lookups in a row failed, so this tool stops calling LeadSquared for a "
            "short while instead of adding load."
        )
    else:
        headline = "The lookup ran out of time"
        why = (
            "Waiting for the rate budget, the attempts and the pauses between them used up "
            "the time allowed for one lookup."
        )
    return _ErrorGuide(
        symbol="🔌",
        severity=Severity.WARNING,
        headline=headline,
        why=why,
        next_steps=(
            f"Try again {_retry_when(error, 'in a minute')}.",
            "If it keeps failing, check the network path from this deployment to "
            "LeadSquared, then contact LeadSquared support.",
        ),
        final=False,
        quote_request_id=True,
    )
