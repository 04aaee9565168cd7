"""What the tools and resources do, on the process's one service (every account).

This module pulls in the whole core (HTTP client, rate budget, explanations); the server's
lifespan imports it in a worker thread and opens it in the background (see
:mod:`mcp_server.server`), so that a client's handshake and ``tools/list`` are answered
without waiting for it. Each method resolves the account (within what the caller's token
reaches), calls one ``CaptureService`` use case, and returns a bounded model,
or raises ``ToolError`` (resources: ``ResourceError``) with our own wording.
"""

from __future__ import annotations

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
    AccountResult,
    AccountsResult,
    CaptureStatusesResult,
    CaptureStatusResult,
    QueueMetricsResult,
    WaitResult,
)
from shared import (
    CaptureService,
    CaptureStatusError,
    PollSchedule,
    Settings,
    WaitProgress,
    format_duration,
    host_for_logs,
    metrics_registry,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["CaptureCore", "ReportProgress", "ServiceOpener"]

log = logging.getLogger(__name__)

#: opens the process's service from the settings (tests pass one on the simulator)
ServiceOpener = Callable[[Settings], AbstractAsyncContextManager[CaptureService]]
#: ``Context.report_progress``: (progress, total, message)
ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]
_NOT_FOUND_CODES = frozenset({"not_found", "invalid_request_id", "unknown_account"})


class CaptureCore:
    """The tools' work on the process's :class:`CaptureService`, rendered for MCP.

    Args:
        service: the process's one service (every account's client).
        notice: a line added to every answer (demo mode), or ``None``.
        max_ids: the most ids ``get_capture_statuses`` takes (``MCP_MAX_IDS``).
    """

    def __init__(self, service: CaptureService, *, notice: str | None, max_ids: int) -> None:
        self.service = service
        self._notice = notice
        self._max_ids = max_ids
        self._metrics_registry: CollectorRegistry | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        service_opener: ServiceOpener | None = None,
        poll_schedule: PollSchedule | None = None,
    ) -> AsyncGenerator[CaptureCore]:
        """Open the service of ``settings`` (or ``service_opener``'s); close it afterwards."""
        opener = service_opener or _default_opener(poll_schedule)
        async with opener(settings) as service:
            hosts = ", ".join(
                f"{name}: {host_for_logs(client.options.base_url)}"
                for name, client in service.clients.items()
            )
            log.info("capture-status MCP server ready (LeadSquared accounts %s)", hosts)
            yield cls(
                service,
                notice=DEMO_NOTICE if settings.demo_mode else None,
                max_ids=settings.mcp_max_ids,
            )
        log.info("capture-status MCP server stopped; every client closed")

    def _named(self, account: str) -> str | None:
        """``account`` when answers need to say which account answered (several exist)."""
        return account if len(self.service.accounts.names) > 1 else None

    def _account(self, account: str | None, allowed: Sequence[str] | None) -> str:
        try:
            return self.service.account(account, allowed=allowed).name
        except CaptureStatusError as error:
            raise tool_error_for(error) from None

    def accounts(self, *, allowed: Sequence[str] | None = None) -> AccountsResult:
        """The accounts this caller may ask, the default one marked."""
        reachable = [
            account
            for account in self.service.accounts.by_name.values()
            if allowed is None or account.name in allowed
        ]
        try:
            default: str | None = self.service.account(None, allowed=allowed).name
        except CaptureStatusError:  # several reachable, none of them the default
            default = None
        entries = [
            AccountResult(name=a.name, source=a.label, is_default=a.name == default)
            for a in reachable
        ]
        if default is None:
            summary = f"{len(entries)} accounts; name one as the account argument."
        else:
            summary = f"{len(entries)} account(s); {default} is asked when account is left out."
        return AccountsResult(summary=summary, accounts=entries, notice=self._notice)

    async def status(
        self, query: str, *, account: str | None = None, allowed: Sequence[str] | None = None
    ) -> CaptureStatusResult:
        """One request, decoded and explained.

        Raises:
            ToolError: the lookup failed (the text explains why and what to do).
        """
        name = self._account(account, allowed)
        (view,) = await self.service.look_up([query], account=name)
        if not view.found:
            raise tool_error(view.explanation, account=self._named(name))
        return capture_status_result(view, notice=self._notice)

    async def status_json(
        self, request_id: str, *, account: str | None = None, allowed: Sequence[str] | None = None
    ) -> str:
        """One request as the JSON of :meth:`status`, for the resource template.

        Raises:
            ResourceNotFoundError: no such request, or not a RequestId.
            ResourceError: any other failure (the text explains it).
        """
        try:
            name = self.service.account(account, allowed=allowed).name
        except CaptureStatusError as error:
            raise ResourceNotFoundError(error.message) from None
        (view,) = await self.service.look_up([request_id], account=name)
        if view.found:
            return capture_status_result(view, notice=self._notice).model_dump_json(indent=2)
        named = self._named(name)
        text = (f"Account {named}: " if named else "") + error_text(view.explanation)
        if view.error is not None and view.error.code in _NOT_FOUND_CODES:
            raise ResourceNotFoundError(text)
        raise ResourceError(text)

    async def statuses(
        self,
        queries: Sequence[str],
        *,
        account: str | None = None,
        allowed: Sequence[str] | None = None,
    ) -> CaptureStatusesResult:
        """One entry per query, in order; one failing id never fails the others.

        Raises:
            ToolError: no ids, or more than this server takes per call.
        """
        name = self._account(account, allowed)
        try:
            views = await self.service.look_up(queries, account=name, max_ids=self._max_ids)
        except CaptureStatusError as error:
            raise tool_error_for(error) from None
        return batch_result(views, notice=self._notice)

    async def metrics(
        self, *, account: str | None = None, allowed: Sequence[str] | None = None
    ) -> QueueMetricsResult:
        """The queue figures with their one-line reading.

        Raises:
            ToolError: the metrics could not be fetched.
        """
        health = await self.service.queue_health(account=self._account(account, allowed))
        if health.metrics is None:
            assert health.error is not None
            raise tool_error(health.error, account=self._named(health.account))
        return queue_metrics_result(health, notice=self._notice)

    async def wait(
        self,
        query: str,
        *,
        timeout_seconds: float,
        report: ReportProgress,
        account: str | None = None,
        allowed: Sequence[str] | None = None,
    ) -> WaitResult:
        """Check ``query`` until final or ``timeout_seconds``, reporting each check as progress.

        Raises:
            ToolError: not a RequestId, an error retrying cannot fix (not found, refused
                key, ...), or no check got any answer before the timeout.
        """
        name = self._account(account, allowed)
        try:
            outcome = await self.service.wait(
                query,
                account=name,
                timeout_seconds=timeout_seconds,
                on_progress=_ProgressReporter(report, timeout_seconds),
            )
        except CaptureStatusError as error:
            raise tool_error_for(error, account=self._named(name)) from None
        if not outcome.answered:
            raise ToolError(
                f"No answer from LeadSquared in {_duration(outcome.elapsed_seconds)} "
                f"({outcome.checks} checks). {error_text(outcome.view.explanation)}"
            )
        capture = capture_status_result(outcome.view, notice=self._notice)
        waited = _duration(outcome.elapsed_seconds)
        if outcome.finished:
            summary = f"Finished after {waited} ({outcome.checks} checks): {capture.status}. "
        else:
            summary = (
                f"Not final after {waited} ({outcome.checks} checks): still {capture.status}. "
                "Call wait_for_capture again or check later. "
            )
        last_error = error_result(outcome.last_error) if outcome.last_error is not None else None
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
        """The clients' Prometheus metrics: the body and its content type."""
        # imported on the first scrape: most deployments of this server are never scraped
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if self._metrics_registry is None:
            self._metrics_registry = metrics_registry(self.service.clients)
        return generate_latest(self._metrics_registry), CONTENT_TYPE_LATEST


def _default_opener(poll_schedule: PollSchedule | None) -> ServiceOpener:
    """LeadSquared's accounts as the settings describe them, or the demo."""
    from shared import open_service

    def opener(settings: Settings) -> AbstractAsyncContextManager[CaptureService]:
        return open_service(settings, poll_schedule=poll_schedule)

    return opener


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
