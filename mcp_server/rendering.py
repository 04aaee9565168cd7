"""From the core's views to the tools' result models, bounded.

Every string taken from LeadSquared is already masked by the core (PII); here it loses its
control and direction-changing characters and is cut to a fixed length, and every list is
capped.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.types import CallToolResult, TextContent

from mcp_server.results import (
    LIST_LIMIT,
    QUERY_LIMIT,
    SHORT_LIMIT,
    TEXT_LIMIT,
    BatchEntryResult,
    CaptureStatusesResult,
    CaptureStatusResult,
    ErrorResult,
    ExplanationResult,
    FactResult,
    LinkResult,
    OutcomeResult,
    QueueMetricsResult,
    RequestSummaryResult,
    TriageFailureResult,
    TriageResult,
    TriageRowResult,
    TriageSummaryResult,
)
from shared import (
    CaptureOutcome,
    CaptureStatus,
    Explanation,
    LookupView,
    QueueHealth,
    RequestSummary,
    TriageRow,
    TriageSummary,
    format_duration,
    inert,
    truncate,
)

__all__ = [
    "batch_result",
    "capture_status_result",
    "clean",
    "duration",
    "error_result",
    "queue_metrics_result",
    "triage_result",
    "triage_text",
    "triage_tool_result",
]

#: failure groups spelled out in a triage's text (all of them are in its structured content)
_TEXT_GROUPS = 5


def clean(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` made inert (:func:`~shared.explain.untrusted.inert`), trimmed, cut to ``limit``."""
    return truncate(inert(text).strip(), limit)


def duration(seconds: float) -> str:
    """``seconds`` for people: tenths under 10 s (``3.2 s``), whole units above."""
    return f"{seconds:.1f} s" if seconds < 10 else format_duration(seconds)


def _clean_opt(text: str | None, limit: int = SHORT_LIMIT) -> str | None:
    return None if text is None else clean(text, limit)


def _cap(items: Sequence[str], limit: int = SHORT_LIMIT) -> list[str]:
    return [clean(item, limit) for item in items[:LIST_LIMIT]]


def explanation_result(explanation: Explanation) -> ExplanationResult:
    """The bounded form of ``explanation``."""
    return ExplanationResult(
        headline=clean(explanation.headline, SHORT_LIMIT * 2),
        severity=explanation.severity.value,
        what_happened=clean(explanation.what_happened),
        why=clean(explanation.why),
        next_steps=_cap(explanation.next_steps, TEXT_LIMIT),
        facts=[
            FactResult(label=clean(f.label, SHORT_LIMIT), value=clean(f.value))
            for f in explanation.facts[:LIST_LIMIT]
        ],
        links=[
            LinkResult(label=clean(link.label, SHORT_LIMIT), url=link.url)
            for link in explanation.links[:LIST_LIMIT]
        ],
    )


def outcome_result(outcome: CaptureOutcome) -> OutcomeResult:
    """The bounded form of ``outcome``."""
    return OutcomeResult(
        kind=outcome.kind,
        created_opportunity_id=_clean_opt(outcome.created_opportunity_id),
        conflicted_opportunity_id=_clean_opt(outcome.conflicted_opportunity_id),
        related_prospect_id=_clean_opt(outcome.related_prospect_id),
        activity_ids=_cap(outcome.activity_ids),
        post_dedup_actions=list(outcome.post_dedup_actions[:LIST_LIMIT]),
        is_unique=outcome.is_unique,
        primary_action=outcome.primary_action,
        secondary_action=outcome.secondary_action,
        exception_type=_clean_opt(outcome.exception_type),
        exception_message=_clean_opt(outcome.exception_message, TEXT_LIMIT),
    )


def request_summary_result(summary: RequestSummary) -> RequestSummaryResult:
    """The bounded form of ``summary``."""
    return RequestSummaryResult(
        readable=summary.readable,
        opportunity_event_code=summary.opportunity_event_code,
        opportunity_field_count=summary.opportunity_field_count,
        opportunity_field_names=_cap(summary.opportunity_field_names),
        lead_attribute_count=summary.lead_attribute_count,
        lead_attribute_names=_cap(summary.lead_attribute_names),
        search_by=_clean_opt(summary.search_by),
        update_empty_fields=summary.update_empty_fields,
        overwrite_fields=summary.overwrite_fields,
        note=_clean_opt(summary.opportunity_note, TEXT_LIMIT),
        raw_excerpt=_clean_opt(summary.raw_excerpt, TEXT_LIMIT),
        unreadable_reason=_clean_opt(summary.unreadable_reason, TEXT_LIMIT),
        size=summary.size,
        cut=summary.cut,
    )


def _status_result(
    status: CaptureStatus, explanation: Explanation, notice: str | None
) -> CaptureStatusResult:
    task = status.task
    summary = explanation.request_summary
    return CaptureStatusResult(
        account=None,
        request_id=status.request_id,
        status=task.status.value,
        status_raw=clean(task.status_raw, SHORT_LIMIT),
        is_final=status.is_final,
        status_reason=_clean_opt(task.status_reason, TEXT_LIMIT),
        current_step=_clean_opt(task.current_step),
        last_step=_clean_opt(task.last_step),
        outcome=None if status.outcome is None else outcome_result(status.outcome),
        request_summary=None if summary is None else request_summary_result(summary),
        explanation=explanation_result(explanation),
        notice=notice,
    )


def capture_status_result(view: LookupView, *, notice: str | None = None) -> CaptureStatusResult:
    """The result of a successful lookup.

    Raises:
        ValueError: ``view`` holds no status (the lookup failed).
    """
    if view.status is None:
        raise ValueError("a failed lookup has no status result; raise its error instead")
    return _status_result(view.status, view.explanation, notice).model_copy(
        update={"account": view.account}
    )


def error_result(view: LookupView) -> ErrorResult:
    """The error of a failed lookup, as data."""
    error = view.error
    return ErrorResult(
        code=error.code if error else "error",
        message=clean(view.explanation.what_happened),
        retryable=error.retryable if error else False,
        retry_after_seconds=error.retry_after_seconds if error else None,
    )


def batch_entry(view: LookupView) -> BatchEntryResult:
    """The compact entry of one id of a batch."""
    status = view.status
    explanation = view.explanation
    if status is not None:
        return BatchEntryResult(
            query=clean(view.query, QUERY_LIMIT),
            result="found",
            request_id=status.request_id,
            status=status.status.value,
            is_final=status.is_final,
            outcome=None if status.outcome is None else outcome_result(status.outcome),
            headline=clean(explanation.headline, SHORT_LIMIT * 2),
            next_steps=_cap(explanation.next_steps[:3], TEXT_LIMIT),
        )
    not_found = view.error is not None and view.error.code == "not_found"
    return BatchEntryResult(
        query=clean(view.query, QUERY_LIMIT),
        result="not_found" if not_found else "error",
        request_id=view.request_id,
        headline=clean(explanation.headline, SHORT_LIMIT * 2),
        next_steps=_cap(explanation.next_steps[:3], TEXT_LIMIT),
        error=error_result(view),
    )


def batch_result(
    views: Sequence[LookupView], *, notice: str | None = None
) -> CaptureStatusesResult:
    """One entry per view, with counts."""
    entries = [batch_entry(view) for view in views]
    found = sum(entry.result == "found" for entry in entries)
    not_found = sum(entry.result == "not_found" for entry in entries)
    errors = len(entries) - found - not_found
    by_status: dict[str, int] = {}
    for entry in entries:
        if entry.status is not None:
            by_status[entry.status] = by_status.get(entry.status, 0) + 1
    statuses = ", ".join(f"{count} {name}" for name, count in by_status.items())
    summary = f"{len(entries)} id{'s' if len(entries) != 1 else ''}: {found} found"
    if statuses:
        summary += f" ({statuses})"
    summary += f", {not_found} not found, {errors} failed to look up"
    return CaptureStatusesResult(
        summary=summary,
        found=found,
        not_found=not_found,
        errors=errors,
        results=entries,
        account=views[0].account if views else None,
        notice=notice,
    )


def queue_metrics_result(health: QueueHealth, *, notice: str | None = None) -> QueueMetricsResult:
    """The queue figures of one account with the core's one-line reading."""
    metrics = health.metrics
    if metrics is None or health.reading is None:
        raise ValueError("a failed queue check has no figures; raise its error instead")
    return QueueMetricsResult(
        reading=clean(health.reading),
        pending_requests=metrics.pending_messages,
        max_delay_seconds=metrics.max_delay_seconds,
        processing_rate_per_minute=metrics.processing_rate_per_minute,
        account=health.account,
        notice=notice,
    )


def _triage_row(row: TriageRow) -> TriageRowResult:
    return TriageRowResult(
        request_id=clean(row.request_id, SHORT_LIMIT),
        status=clean(row.status, SHORT_LIMIT),
        outcome=row.outcome,
        exception_type=clean(row.exception_type, SHORT_LIMIT),
        reason=clean(row.reason),
        opportunity_id=clean(row.opportunity_id, SHORT_LIMIT),
        lead_id=clean(row.lead_id, SHORT_LIMIT),
        account=clean(row.account, SHORT_LIMIT),
        family=clean(row.family, SHORT_LIMIT),
    )


def _triage_summary(summary: TriageSummary) -> TriageSummaryResult:
    return TriageSummaryResult(
        total=summary.total,
        by_status={clean(status, SHORT_LIMIT): n for status, n in summary.by_status.items()},
        by_outcome=dict(summary.by_outcome),
        failures=[
            TriageFailureResult(
                outcome=group.outcome,
                exception_type=clean(group.exception_type, SHORT_LIMIT),
                reason=clean(group.reason),
                count=group.count,
                example_ids=_cap(group.example_ids),
            )
            for group in summary.failures
        ],
        resubmit=list(summary.resubmit),
        look_again=list(summary.look_again),
    )


def triage_result(
    rows: Sequence[TriageRow],
    summary: TriageSummary,
    *,
    found: str,
    accounts: Sequence[str],
    elapsed_seconds: float,
    notice: str | None = None,
) -> TriageResult:
    """The triage of ``rows`` (input order) with its ``summary``, every string made inert.

    Args:
        rows: one row per id, in input order.
        summary: :func:`~shared.service.triage.summarize` of ``rows``.
        found: what the input held and what was skipped (``BatchInput.describe()``).
        accounts: the accounts asked, in order.
        elapsed_seconds: how long the lookups took.
        notice: the demo notice, if any.
    """
    return TriageResult(
        summary=_triage_summary(summary),
        rows=[_triage_row(row) for row in rows],
        input=clean(found),
        accounts=list(accounts),
        elapsed_seconds=round(elapsed_seconds, 1),
        notice=notice,
    )


def triage_text(result: TriageResult) -> str:
    """A short reading of ``result`` for people and for clients that ignore structured content."""
    summary = result.summary
    counts = ", ".join(
        f"{n} {outcome.replace('_', ' ')}" for outcome, n in summary.by_outcome.items() if n
    )
    plural = "s" if summary.total != 1 else ""
    lines = [
        f"Triaged {summary.total} RequestId{plural} on {', '.join(result.accounts)} in "
        f"{duration(result.elapsed_seconds)}: {counts or 'nothing'}."
    ]
    if summary.failures:
        lines.append("Failures, largest group first:")
        for group in summary.failures[:_TEXT_GROUPS]:
            kind = f"{group.outcome.replace('_', ' ')}, {group.exception_type or 'no exception'}"
            reason = f' "{group.reason}"' if group.reason else ""
            examples = ", ".join(group.example_ids)
            lines.append(f"- {group.count} x {kind}:{reason} (e.g. {examples})")
        if len(summary.failures) > _TEXT_GROUPS:
            more = len(summary.failures) - _TEXT_GROUPS
            lines.append(f"- and {more} more group(s): see summary.failures.")
    if summary.resubmit:
        lines.append(
            f"Resubmit after fixing the request: {len(summary.resubmit)} id(s), listed in "
            "summary.resubmit."
        )
    if summary.look_again:
        lines.append(
            f"Look again later: {len(summary.look_again)} id(s) may still change, listed in "
            "summary.look_again."
        )
    lines.append(f"Input: {result.input}")
    lines.append("One row per id is in the structured content (rows).")
    if result.notice:
        lines.append(result.notice)
    return "\n".join(lines)


def triage_tool_result(result: TriageResult) -> CallToolResult:
    """``result`` as structured content, with :func:`triage_text` (not its JSON) as the text."""
    return CallToolResult(
        content=[TextContent(type="text", text=triage_text(result))],
        structured_content=result.model_dump(mode="json"),
    )
