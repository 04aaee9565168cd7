"""From the core's views to the tools' result models, bounded.

Every string taken from LeadSquared is already masked by the core (PII); here it loses its
control and direction-changing characters and is cut to a fixed length, and every list is
capped.
"""

from __future__ import annotations

from collections.abc import Sequence

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
)
from shared import (
    CaptureOutcome,
    CaptureStatus,
    Explanation,
    LookupView,
    QueueHealth,
    RequestSummary,
    inert,
    truncate,
)

__all__ = [
    "batch_result",
    "capture_status_result",
    "clean",
    "error_result",
    "queue_metrics_result",
]


def clean(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` made inert (:func:`~shared.explain.untrusted.inert`), trimmed, cut to ``limit``."""
    return truncate(inert(text).strip(), limit)


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
