"""What the tools and resources do, on the process's one client.

This module pulls in the whole core (HTTP client, rate budget, explanations); the server's
lifespan imports it in a worker thread and opens it in the background (see
:mod:`mcp_server.server`), so that a client's handshake and ``tools/list`` are answered
without waiting for it. Each method validates, calls the core, and returns a bounded model,
or raises ``ToolError`` (resources: ``ResourceError``) with our own wording.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from mcp_server.errors import error_text, tool_error, tool_error_for
from mcp_server.rendering import (
    batch_result,
    capture_status_result,
    clean,
    error_result,
    queue_metrics_result,
)
from mcp_server.results import (
    DEMO_NOTICE,
    CaptureStatusesResult,
    CaptureStatusResult,
    QueueMetricsResult,
    WaitResult,
)
from shared.errors import CaptureStatusError, RateLimitedError
from shared.explain.engine import explain_error, format_duration
from shared.explain.redact import Redactor
from shared.infra.logs import host_for_logs
from shared.lsq.client import CaptureStatusClient, LookupResult
from shared.lsq.models import QueueMetrics
from shared.service.views import LookupView, look_up, lookup_view
from shared.service.waiting import PollSchedule, WaitProgress, wait_for_final
from shared.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["CaptureCore", "ClientOpener", "ReportProgress"]

log = logging.getLogger(__name__)

#: opens the process's one client from the settings (tests pass an in-process simulator)
ClientOpener = Callable[[Settings], AbstractAsyncContextManager[CaptureStatusClient]]
#: ``Context.report_progress``: (progress, total, message)
ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]
_NOT_FOUND_CODES = frozenset({"not_found", "invalid_request_id"})


class CaptureCore:
    """The tools' work on one client, with this deployment's presentation settings.

    Args:
        client: the process's one client.
        redactor: masks PII in everything returned (``LSQ_MASK_PII``).
        app_base_url: the LeadSquared web app, for links (``LSQ_APP_BASE_URL``).
        notice: a line added to every answer (demo mode), or ``None``.
        poll_schedule: the pauses between the checks of a wait.
    """

    def __init__(
        self,
        client: CaptureStatusClient,
        *,
        redactor: Redactor,
        app_base_url: str | None,
        notice: str | None,
        poll_schedule: PollSchedule,
    ) -> None:
        self.client = client
        self._redactor = redactor
        self._app_base_url = app_base_url
        self._notice = notice
        self._poll_schedule = poll_schedule
        self._metrics_registry: CollectorRegistry | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        client_opener: ClientOpener | None = None,
        poll_schedule: PollSchedule | None = None,
    ) -> AsyncGenerator[CaptureCore]:
        """Open the client of ``settings`` (or ``client_opener``'s); close it afterwards."""
        if client_opener is None:
            from shared.runtime import open_client  # the default: LeadSquared or the demo

            client_opener = open_client
        async with client_opener(settings) as client:
            log.info(
                "capture-status MCP server ready (LeadSquared host %s)",
                host_for_logs(client.options.base_url),
            )
            yield cls(
                client,
                redactor=Redactor(enabled=settings.lsq_mask_pii),
                app_base_url=settings.lsq_app_base_url,
                notice=DEMO_NOTICE if settings.demo_mode else None,
                poll_schedule=poll_schedule or PollSchedule(),
            )
        log.info("capture-status MCP server stopped; client closed")

    async def _look_up(self, queries: Sequence[str]) -> list[LookupView]:
        try:
            return await look_up(
                self.client, queries, app_base_url=self._app_base_url, redactor=self._redactor
            )
        except CaptureStatusError as error:  # more ids than the client takes at once
            raise tool_error_for(error) from None

    async def status(self, query: str) -> CaptureStatusResult:
        """One request, decoded and explained.

        Raises:
            ToolError: the lookup failed (the text explains why and what to do).
        """
        (view,) = await self._look_up([query])
        if not view.found:
            raise tool_error(view.explanation)
        return capture_status_result(view, notice=self._notice)

    async def status_json(self, request_id: str) -> str:
        """One request as the JSON of :meth:`status`, for the resource template.

        Raises:
            ResourceNotFoundError: no such request, or not a RequestId.
            ResourceError: any other failure (the text explains it).
        """
        (view,) = await self._look_up([request_id])
        if view.found:
            return capture_status_result(view, notice=self._notice).model_dump_json(indent=2)
        text = error_text(view.explanation)
        if view.error is not None and view.error.code in _NOT_FOUND_CODES:
            raise ResourceNotFoundError(text)
        raise ResourceError(text)

    async def statuses(self, queries: Sequence[str]) -> CaptureStatusesResult:
        """One entry per query, in order; one failing id never fails the others."""
        return batch_result(await self._look_up(queries), notice=self._notice)

    async def metrics(self) -> QueueMetricsResult:
        """The queue figures with their one-line reading.

        Raises:
            ToolError: the metrics could not be fetched.
        """
        try:
            metrics = await self.client.get_metrics()
        except CaptureStatusError as error:
            raise tool_error_for(error) from None
        return queue_metrics_result(metrics, notice=self._notice)

    async def wait(
        self, query: str, *, timeout_seconds: float, report: ReportProgress
    ) -> WaitResult:
        """Check ``query`` until final or ``timeout_seconds``, reporting each check as progress.

        The answer comes within ``timeout_seconds`` (see :func:`wait_for_final`): the queue
        figures of an unfinished wait are only added when they come in the time left. When
        a throttle ended the wait, ``last_error`` (or the error raised) says so.

        Raises:
            ToolError: not a RequestId, an error retrying cannot fix (not found, refused
                key, ...), or no check got any answer before the timeout.
        """
        try:
            outcome = await wait_for_final(
                self.client,
                query,
                timeout_seconds=timeout_seconds,
                on_progress=_ProgressReporter(report, timeout_seconds),
                schedule=self._poll_schedule,
            )
        except CaptureStatusError as error:
            raise tool_error_for(error) from None
        if outcome.status is None:
            # every check failed with a temporary error
            assert outcome.last_error is not None
            explanation = explain_error(outcome.last_error, request_id=outcome.request_id)
            raise ToolError(
                f"No answer from LeadSquared in {_duration(outcome.elapsed_seconds)} "
                f"({outcome.checks} checks). {error_text(explanation)}"
            )
        metrics = None
        if not (outcome.finished or isinstance(outcome.last_error, RateLimitedError)):
            # (a throttle's cooldown holds the metrics back too)
            left = timeout_seconds - outcome.elapsed_seconds
            metrics = await self._metrics_or_none(within=left)
        view = lookup_view(
            LookupResult(query=query, request_id=outcome.request_id, status=outcome.status),
            metrics=metrics,
            app_base_url=self._app_base_url,
            redactor=self._redactor,
        )
        capture = capture_status_result(view, notice=self._notice)
        waited = _duration(outcome.elapsed_seconds)
        if outcome.finished:
            summary = f"Finished after {waited} ({outcome.checks} checks): {capture.status}. "
        else:
            summary = (
                f"Not final after {waited} ({outcome.checks} checks): still {capture.status}. "
                "Call wait_for_capture again or check later. "
            )
        last_error = None
        if outcome.last_error is not None:
            failed = LookupResult(
                query=query, request_id=outcome.request_id, error=outcome.last_error
            )
            last_error = error_result(lookup_view(failed))
        return WaitResult(
            summary=clean(summary + capture.explanation.headline),
            finished=outcome.finished,
            timed_out=outcome.timed_out,
            waited_seconds=round(outcome.elapsed_seconds, 1),
            timeout_seconds=timeout_seconds,
            checks=outcome.checks,
            capture=capture,
            last_error=last_error,
        )

    def metrics_text(self) -> tuple[bytes, str]:
        """The client's Prometheus metrics: the body and its content type."""
        # imported on the first scrape: most deployments of this server are never scraped
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from shared.infra.metrics import metrics_registry

        if self._metrics_registry is None:
            self._metrics_registry = metrics_registry(self.client)
        return generate_latest(self._metrics_registry), CONTENT_TYPE_LATEST

    async def _metrics_or_none(self, *, within: float) -> QueueMetrics | None:
        """The queue figures for an unfinished wait, if they come within its time left."""
        if within <= 0:
            return None
        try:
            async with asyncio.timeout(within):
                return await self.client.get_metrics()
        except (CaptureStatusError, TimeoutError):
            return None


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else format_duration(seconds)


class _ProgressReporter:
    """Turns each check of a wait into an MCP progress notification.

    Progress is the elapsed time in seconds out of the timeout; it strictly increases, as
    the protocol requires, even when two checks report the same moment.
    """

    def __init__(self, report: ReportProgress, timeout: float) -> None:
        self._report = report
        self._timeout = timeout
        self._last = -math.inf

    async def __call__(self, step: WaitProgress) -> None:
        progress = max(round(step.elapsed_seconds, 1), self._last + 0.1)
        self._last = progress
        await self._report(progress, max(self._timeout, progress), _progress_message(step))


def _progress_message(step: WaitProgress) -> str:
    if step.status is not None:
        kind = step.status.status
        now = f"{kind.value} ({'final' if kind.is_final else 'not final'})"
    else:
        now = "no answer yet"
    if step.error is not None:
        now += f"; last check failed: {step.error.code}"
    text = f"Check {step.checks}: {now}"
    if step.next_check_in_seconds is None:
        return text + "; done waiting"
    return text + f"; next check in {format_duration(step.next_check_in_seconds)}"
