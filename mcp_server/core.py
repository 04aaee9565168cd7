"""What the tools and resources do, on the process's one service (every account).

This module pulls in the whole core (HTTP client, rate budget, explanations); the server's
lifespan imports it in a worker thread and opens it in the background (see
:mod:`mcp_server.server`), so that a client's handshake and ``tools/list`` are answered
without waiting for it. Each method resolves the account (within what the caller's token
reaches), calls one ``CaptureService`` use case as the caller's principal (interactive
lane; a triage takes the bulk lane), and returns a bounded model, or raises ``ToolError``
(resources: ``ResourceError``) with our own wording.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

import anyio
from mcp import MCPError
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult

from mcp_server.announcing import Announcer
from mcp_server.auth import Requester
from mcp_server.bus import ResourceBus
from mcp_server.errors import error_text, tool_error, tool_error_for
from mcp_server.rendering import (
    batch_result,
    capture_status_result,
    clean,
    duration,
    error_result,
    queue_metrics_result,
    triage_result,
    triage_tool_result,
)
from mcp_server.results import (
    DEMO_NOTICE,
    TRIAGE_MAX_IDS,
    AccountResult,
    AccountsResult,
    CaptureStatusesResult,
    CaptureStatusResult,
    QueueMetricsResult,
    WaitResult,
)
from shared import (
    BatchProgress,
    Caller,
    CaptureService,
    CaptureStatusError,
    InvalidRequestIdError,
    LookupView,
    NewSubscriber,
    Notifier,
    PollSchedule,
    Settings,
    TriageRow,
    UnknownAccountError,
    WaitProgress,
    WatchCheck,
    Watcher,
    WatchWaits,
    format_duration,
    host_for_logs,
    in_input_order,
    metrics_registry,
    summarize,
    triage_row,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "MCP_KIND",
    "MCP_SCOPE",
    "CaptureCore",
    "ReportProgress",
    "ServiceOpener",
    "WatcherRunner",
]

log = logging.getLogger(__name__)

#: opens the process's service from the settings (tests pass one on the simulator)
ServiceOpener = Callable[[Settings], AbstractAsyncContextManager[CaptureService]]
#: ``Context.report_progress``: (progress, total, message)
ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]
_NOT_FOUND_CODES = frozenset({"not_found", "invalid_request_id", "unknown_account"})
#: the subscriber kind of followed resources: any MCP replica announces their end
MCP_KIND = "mcp"
#: the group whose watch limit every MCP principal counts against
MCP_SCOPE = "mcp"


class WatcherRunner(Protocol):
    """Runs the process's watcher while the block runs (:func:`shared.running_watcher`)."""

    def __call__(
        self,
        service: CaptureService,
        *,
        notifiers: Mapping[str, Notifier] | None = None,
        on_check: Callable[[WatchCheck], Awaitable[None]] | None = None,
    ) -> AbstractAsyncContextManager[Watcher | None]: ...


class CaptureCore:
    """The tools' work on the process's :class:`CaptureService`, rendered for MCP.

    Args:
        service: the process's one service (every account's client).
        notice: a line added to every answer (demo mode), or ``None``.
        max_ids: the most ids ``get_capture_statuses`` takes (``MCP_MAX_IDS``).
    """

    def __init__(
        self,
        service: CaptureService,
        *,
        notice: str | None,
        max_ids: int,
        watcher: Watcher | None = None,
        waits: WatchWaits | None = None,
    ) -> None:
        self.service = service
        self.watcher = watcher
        self._notice = notice
        self._max_ids = max_ids
        self._waits = waits
        self._metrics_registry: CollectorRegistry | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        service_opener: ServiceOpener | None = None,
        poll_schedule: PollSchedule | None = None,
        bus: ResourceBus | None = None,
        watcher_runner: WatcherRunner | None = None,
    ) -> AsyncGenerator[CaptureCore]:
        """Open the service of ``settings`` (or ``service_opener``'s) and run its watcher;
        stop and close them afterwards.

        Args:
            settings: the process's settings.
            service_opener: opens the service (default: the store of ``DATABASE_URL`` and
                the accounts of ``settings``).
            poll_schedule: the pauses of a wait that checks by itself (no store).
            bus: where the ends of followed requests' watches are announced (this process
                then delivers the notices of kind ``mcp``); without it, it delivers none.
            watcher_runner: runs the watcher (default: :func:`shared.running_watcher`).
        """
        from shared import running_watcher

        opener = service_opener or _default_opener(poll_schedule)
        run_watcher = watcher_runner or running_watcher
        waits = WatchWaits(MCP_KIND, scope=MCP_SCOPE)
        notifiers: dict[str, Notifier] = {waits.kind: waits}
        if bus is not None:
            notifiers[MCP_KIND] = Announcer(bus)
        async with (
            opener(settings) as service,
            run_watcher(service, notifiers=notifiers, on_check=waits.on_check) as watcher,
        ):
            hosts = ", ".join(
                f"{name}: {host_for_logs(client.options.base_url)}"
                for name, client in service.clients.items()
            )
            log.info("capture-status MCP server ready (LeadSquared accounts %s)", hosts)
            yield cls(
                service,
                notice=DEMO_NOTICE if settings.demo_mode else None,
                max_ids=settings.mcp_max_ids,
                watcher=watcher,
                waits=waits if watcher is not None else None,
            )
        log.info("capture-status MCP server stopped; every client closed")

    async def watch_readiness(self) -> str | None:
        """``None`` while watches can be kept, else why not (``/readyz``)."""
        return await self.service.watch_readiness()

    async def follow(self, request_id: str, *, uri: str, place: str, requester: Requester) -> bool:
        """Watch ``request_id`` for ``requester`` until :meth:`unfollow`; when the watch ends,
        the announcer says ``uri`` was updated.

        Args:
            request_id: the RequestId of ``uri``.
            uri: the resource the client follows, exactly as it wrote it.
            place: where the client listens (the subscriber's ``target_key``).
            requester: who follows it (the watch counts against its principal's limit).

        Returns:
            True when a watch follows it; False when it is final already (nothing will
            change: read it).

        Raises:
            MCPError: not a RequestId, no such request, an account the caller may not
                reach (``INVALID_PARAMS``); the store cannot take the watch, or the caller
                follows as many requests as allowed (``INTERNAL_ERROR``): our words.
        """
        try:
            name = self.service.account(None, allowed=requester.allowed).name
            watched = await self.service.watch(
                request_id,
                subscriber=NewSubscriber(
                    kind=MCP_KIND,
                    principal=requester.principal,
                    scope=MCP_SCOPE,
                    target={"uri": uri},
                    target_key=place,
                ),
                caller=Caller.interactive(requester.principal),
                account=name,
            )
        except (InvalidRequestIdError, UnknownAccountError) as error:
            raise MCPError(INVALID_PARAMS, error.message, {"uri": uri}) from None
        except CaptureStatusError as error:  # the store is down, or too many watches
            raise MCPError(INTERNAL_ERROR, error.message, {"uri": uri}) from None
        if watched.watching:
            return True
        if watched.view.found:
            return False
        named = self._named(name)
        text = (f"Account {named}: " if named else "") + error_text(watched.view.explanation)
        raise MCPError(INVALID_PARAMS, text, {"uri": uri})

    async def unfollow(self, request_id: str, *, place: str, requester: Requester) -> None:
        """Stop :meth:`follow`'s watch (the watch ends when nobody else follows it).

        A store that does not answer is logged: the watch then ends by itself (final, or
        expired), and its end is announced to nobody.
        """
        try:
            await self.service.unwatch(
                request_id, principal=requester.principal, kind=MCP_KIND, target_key=place
            )
        except CaptureStatusError as error:
            log.warning("could not stop following %s: %s", request_id, error.message)

    def _named(self, account: str) -> str | None:
        """``account`` when answers need to say which account answered (several exist)."""
        return account if len(self.service.accounts.names) > 1 else None

    def _account(self, account: str | None, allowed: Sequence[str] | None) -> str:
        try:
            return self.service.account(account, allowed=allowed).name
        except CaptureStatusError as error:
            raise tool_error_for(error) from None

    def _reachable(self, allowed: Sequence[str] | None) -> list[str]:
        """The accounts a caller reaching ``allowed`` may ask, in configuration order."""
        return [name for name in self.service.accounts.names if allowed is None or name in allowed]

    def _default(self, allowed: Sequence[str] | None) -> str | None:
        """The account asked when none is named, or ``None`` (several reachable, none default)."""
        try:
            return self.service.account(None, allowed=allowed).name
        except CaptureStatusError:
            return None

    def accounts(self, *, requester: Requester) -> AccountsResult:
        """The accounts this caller may ask, the default one marked."""
        allowed = requester.allowed
        reachable = [self.service.accounts.by_name[name] for name in self._reachable(allowed)]
        default = self._default(allowed)
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
        self, query: str, *, requester: Requester, account: str | None = None
    ) -> CaptureStatusResult:
        """One request, decoded and explained.

        Raises:
            ToolError: the lookup failed (the text explains why and what to do).
        """
        name = self._account(account, requester.allowed)
        (view,) = await self.service.look_up(
            [query], account=name, caller=Caller.interactive(requester.principal)
        )
        if not view.found:
            raise tool_error(view.explanation, account=self._named(name))
        return capture_status_result(view, notice=self._notice)

    async def status_json(
        self, request_id: str, *, requester: Requester, account: str | None = None
    ) -> str:
        """One request as the JSON of :meth:`status`, for the resource template.

        Raises:
            ResourceNotFoundError: no such request, or not a RequestId.
            ResourceError: any other failure (the text explains it).
        """
        try:
            name = self.service.account(account, allowed=requester.allowed).name
        except CaptureStatusError as error:
            raise ResourceNotFoundError(error.message) from None
        (view,) = await self.service.look_up(
            [request_id], account=name, caller=Caller.interactive(requester.principal)
        )
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
        requester: Requester,
        account: str | None = None,
    ) -> CaptureStatusesResult:
        """One entry per query, in order; one failing id never fails the others.

        Raises:
            ToolError: no ids, or more than this server takes per call.
        """
        name = self._account(account, requester.allowed)
        try:
            views = await self.service.look_up(
                queries,
                account=name,
                max_ids=self._max_ids,
                caller=Caller.interactive(requester.principal),
            )
        except CaptureStatusError as error:
            raise tool_error_for(error) from None
        return batch_result(views, notice=self._notice)

    async def metrics(
        self, *, requester: Requester, account: str | None = None
    ) -> QueueMetricsResult:
        """The queue figures with their one-line reading.

        Raises:
            ToolError: the metrics could not be fetched.
        """
        health = await self.service.queue_health(
            account=self._account(account, requester.allowed),
            caller=Caller.interactive(requester.principal),
        )
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
        requester: Requester,
        account: str | None = None,
    ) -> WaitResult:
        """Wait until ``query`` is final or ``timeout_seconds`` pass, reporting each check as
        progress.

        With the store, the wait follows the request's watch and this process's watcher
        wakes it (``CaptureService.wait`` with this process's :class:`WatchWaits`); without
        it (or while it is down) the wait checks by itself.

        Raises:
            ToolError: not a RequestId, an error retrying cannot fix (not found, refused
                key, ...), this caller already runs as many waits as one caller may, or no
                check got any answer before the timeout.
        """
        name = self._account(account, requester.allowed)
        try:
            outcome = await self.service.wait(
                query,
                account=name,
                timeout_seconds=timeout_seconds,
                on_progress=_ProgressReporter(report, timeout_seconds),
                caller=Caller.interactive(requester.principal),
                waits=self._waits,
            )
        except CaptureStatusError as error:
            raise tool_error_for(error, account=self._named(name)) from None
        if not outcome.answered:
            raise ToolError(
                f"No answer from LeadSquared in {duration(outcome.elapsed_seconds)} "
                f"({outcome.checks} checks). {error_text(outcome.view.explanation)}"
            )
        capture = capture_status_result(outcome.view, notice=self._notice)
        waited = duration(outcome.elapsed_seconds)
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

    async def triage(
        self,
        text: str,
        *,
        report: ReportProgress,
        requester: Requester,
        account: str | None = None,
    ) -> CallToolResult:
        """Look up every RequestId in ``text`` at the bulk lane's pace; summarise them.

        The result's structured content is a :class:`TriageResult`; its text, a short
        reading of it (:func:`~mcp_server.rendering.triage_text`).

        Each answer is reported as progress (ids done out of the total). Cancelling the
        call stops the lookups still to come; none is made after it returns.

        Args:
            text: anything holding RequestIds (ids one per line, log lines, a pasted table).
            report: ``Context.report_progress`` of the call.
            requester: who asks (the bulk lane's principal, and the accounts reachable).
            account: the only account to ask; left out, the default one first, then every
                other account the caller may reach for the ids it does not know.

        Raises:
            ToolError: no RequestId in ``text``, more than :data:`TRIAGE_MAX_IDS`, or an
                account the caller may not reach.
        """
        try:
            batch = self.service.batch_in(text, max_ids=TRIAGE_MAX_IDS)
        except CaptureStatusError as error:  # no id, or over the cap: the core's words
            raise ToolError(error.message) from None
        try:
            names = self.service.accounts_to_try(account, allowed=requester.allowed)
        except CaptureStatusError as error:  # no such account, or not one it may reach
            raise tool_error_for(error) from None
        progress = _BatchReporter(report)
        started = time.monotonic()
        rows: list[TriageRow] = []
        views = self.service.look_up_many(
            batch.ids,
            caller=Caller.bulk(requester.principal),
            account=names[0],
            also_try=names[1:],
            on_progress=progress.record,
        )
        try:
            async for view in views:
                rows.append(triage_row(view))
                await progress.send()
        except CaptureStatusError as error:
            raise tool_error_for(error) from None
        finally:
            await _close(views)
            log.info(
                "triage by %s: %d of %d ids looked up in %s%s",
                requester.principal,
                len(rows),
                len(batch.ids),
                duration(time.monotonic() - started),
                "" if len(rows) == len(batch.ids) else " (stopped before the end)",
            )
        rows = in_input_order(rows, batch.ids)
        result = triage_result(
            rows,
            summarize(rows),
            found=batch.describe(),
            accounts=names,
            elapsed_seconds=time.monotonic() - started,
            notice=self._notice,
        )
        return triage_tool_result(result)

    def metrics_text(self) -> tuple[bytes, str]:
        """The clients' Prometheus metrics: the body and its content type."""
        # imported on the first scrape: most deployments of this server are never scraped
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if self._metrics_registry is None:
            self._metrics_registry = metrics_registry(
                self.service.clients, watcher=lambda: self.watcher
            )
        return generate_latest(self._metrics_registry), CONTENT_TYPE_LATEST


def _default_opener(poll_schedule: PollSchedule | None) -> ServiceOpener:
    """LeadSquared's accounts as the settings describe them (or the demo), with the store
    of watches that ``DATABASE_URL`` names."""
    from shared import open_service, open_store

    @asynccontextmanager
    async def opener(settings: Settings) -> AsyncGenerator[CaptureService]:
        async with (
            open_store(settings) as store,
            open_service(settings, poll_schedule=poll_schedule, store=store) as service,
        ):
            yield service

    return opener


async def _close(views: AsyncIterator[LookupView]) -> None:
    """Stop a batch's lookups and wait until they have stopped, even while cancelled."""
    if isinstance(views, AsyncGenerator):
        with anyio.CancelScope(shield=True):
            await views.aclose()


class _BatchReporter:
    """Turns a batch's answers into MCP progress notifications: ids done out of the total."""

    def __init__(self, report: ReportProgress) -> None:
        self._report = report
        self._latest: BatchProgress | None = None

    def record(self, step: BatchProgress) -> None:
        """Keep the batch's latest progress (``on_progress`` of the batch: not async)."""
        self._latest = step

    async def send(self) -> None:
        """Report the latest progress recorded."""
        step = self._latest
        if step is None:
            return
        text = f"{step.done} of {step.total} looked up"
        if step.failed:
            text += f" ({step.failed} lookup{'s' if step.failed != 1 else ''} failed)"
        if step.done < step.total and math.isfinite(step.eta_seconds):
            text += f"; about {format_duration(step.eta_seconds)} left"
        await self._report(step.done, step.total, text)


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
