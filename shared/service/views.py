"""One result view per looked-up id, shared by every front door that returns data.

A :class:`LookupView` carries the decoded status (with the submitted body's PII masked),
the explanation, and, when the lookup failed, the error as plain data. The CLI prints it as
JSON; the MCP server returns it as structured content.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from shared.errors import CaptureStatusError, UnshowableAnswerError
from shared.explain.engine import Explanation, explain, explain_error
from shared.explain.redact import Redactor, redacted_status
from shared.guard.lanes import ANONYMOUS, Caller
from shared.lsq.bounds import LARGE_ANSWER
from shared.lsq.client import CaptureStatusClient, LookupResult
from shared.lsq.models import CaptureStatus, QueueMetrics, StatusKind

__all__ = ["ErrorView", "LookupView", "guarded_view", "look_up", "lookup_view"]

_log = logging.getLogger(__name__)


class ErrorView(BaseModel):
    """A failed lookup, as data."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    retryable: bool
    retry_after_seconds: float | None = None
    http_status: int | None = None

    @classmethod
    def from_error(cls, error: CaptureStatusError) -> ErrorView:
        """The data of ``error`` (its message is already written for people)."""
        return cls(
            code=error.code,
            message=error.message,
            retryable=error.retryable,
            retry_after_seconds=error.retry_after,
            http_status=error.http_status,
        )


class LookupView(BaseModel):
    """Everything known about one looked-up id."""

    model_config = ConfigDict(frozen=True)

    query: str
    request_id: str | None
    found: bool
    #: the LeadSquared account that answered (set by the service)
    account: str | None = None
    status: CaptureStatus | None = None
    explanation: Explanation
    error: ErrorView | None = None


def lookup_view(
    result: LookupResult,
    *,
    metrics: QueueMetrics | None = None,
    app_base_url: str | None = None,
    redactor: Redactor | None = None,
) -> LookupView:
    """The view of one :class:`~shared.lsq.client.LookupResult`."""
    redactor = redactor or Redactor()
    if result.status is not None:
        return LookupView(
            query=result.query,
            request_id=result.status.request_id,
            found=True,
            status=redacted_status(result.status, redactor),
            explanation=explain(
                result.status, metrics, app_base_url=app_base_url, redactor=redactor
            ),
        )
    assert result.error is not None
    return LookupView(
        query=result.query,
        request_id=result.request_id,
        found=False,
        explanation=explain_error(result.error, request_id=result.request_id),
        error=ErrorView.from_error(result.error),
    )


async def look_up(
    client: CaptureStatusClient,
    queries: Sequence[str],
    *,
    app_base_url: str | None = None,
    redactor: Redactor | None = None,
    fresh: bool = False,
    caller: Caller = ANONYMOUS,
) -> list[LookupView]:
    """Look up every query and explain each; queue metrics are added when any is In-Queue.

    A metrics failure only leaves them out of the explanation: it never fails a lookup.

    Raises:
        TooManyRequestIdsError: more queries than the client accepts at once.
    """
    results = await client.get_statuses(queries, use_cache=not fresh, caller=caller)
    metrics: QueueMetrics | None = None
    if any(r.status is not None and r.status.status is StatusKind.IN_QUEUE for r in results):
        try:
            metrics = await client.get_metrics(caller=caller)
        except CaptureStatusError:
            metrics = None

    def build() -> list[LookupView | LookupResult]:
        return [guarded_view(r, metrics, app_base_url, redactor) for r in results]

    # Masking and explaining is CPU work: a large batch of large answers runs in a thread,
    # so the event loop keeps acknowledging Slack and answering health checks meanwhile.
    large = sum(_text_size(r) for r in results) > LARGE_ANSWER
    built = await asyncio.to_thread(build) if large else build()
    views: list[LookupView] = []
    for item in built:
        if isinstance(item, LookupResult):  # its answer could not be shown
            if item.request_id is not None:
                await client.forget(item.request_id)
            item = lookup_view(item)
        views.append(item)
    return views


def guarded_view(
    result: LookupResult,
    metrics: QueueMetrics | None,
    app_base_url: str | None,
    redactor: Redactor | None,
) -> LookupView | LookupResult:
    """The view of one result; an answer that cannot be shown fails that id alone.

    Returns:
        The view, or a failed result (with :class:`UnshowableAnswerError`) whose cached
        answer the caller drops.
    """
    try:
        return lookup_view(result, metrics=metrics, app_base_url=app_base_url, redactor=redactor)
    except Exception as error:  # one hostile answer must not fail the batch
        rid = result.request_id
        _log.warning(
            "the answer for %s could not be shown (%s); it was dropped from the cache",
            rid,
            type(error).__name__,
        )
        return LookupResult(query=result.query, request_id=rid, error=UnshowableAnswerError(rid))


def _text_size(result: LookupResult) -> int:
    status = result.status
    if status is None:
        return 0
    task = status.task
    return task.request_body.size + task.message.size + len(task.status_reason or "")
