"""Triage jobs: more ids than one answer takes, looked up in the background on the bulk lane.

A job is started by the slash command or the message shortcut (``bot.listeners``). It posts
a progress message in the conversation, updates it in place with ``chat.update`` at a
bounded cadence, turns it into the summary when every id is answered, and uploads every row
as a CSV file (``files_upload_v2``). Everything posted is masked (the lookups are made with
``shared=True``). Whatever goes wrong is said, in the conversation or privately to the
person who started the job; nothing fails silently.

:class:`TriageJobs` owns the jobs of one app: it caps the ids of a job and the jobs of one
person, and cancels and awaits every job on shutdown (jobs do not survive a restart: the
store of durable jobs comes with watches).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.identity import slack_error_code
from bot.kit import RenderContext, SlackMessage
from bot.mrkdwn import escape_cut
from bot.triage_blocks import (
    CLI_TRIAGE,
    TriageJobInfo,
    busy_message,
    csv_comment,
    job_notice,
    progress_message,
    started_message,
    stopped_message,
    summary_message,
)
from shared import (
    Account,
    BatchProgress,
    Caller,
    CaptureService,
    LookupView,
    TriageRow,
    in_input_order,
    summarize,
    triage_csv,
    triage_row,
)

__all__ = ["TellUser", "TriageJobs", "TriageOptions", "TriageRequest"]

log = logging.getLogger(__name__)

#: how a job tells the person who started it something privately (never raises)
TellUser = Callable[[SlackMessage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TriageOptions:
    """The limits and cadence of triage jobs.

    Attributes:
        max_ids: the most ids one job takes (more: the person is pointed to the CLI).
        jobs_per_user: jobs one person may run at once.
        progress_seconds: the least time between two updates of a progress message.
        progress_fraction: the least share of the ids answered between two updates. An
            update waits for both, so a job of any size updates its message at most about
            ``1 / progress_fraction`` times, and never more than once per
            ``progress_seconds`` (``chat.update`` is Tier 3, about 50 a minute per workspace).
        notice_seconds: how long a shutdown waits for a stopped job's last update.
    """

    max_ids: int = 1_000
    jobs_per_user: int = 2
    progress_seconds: float = 5.0
    progress_fraction: float = 0.1
    notice_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class TriageRequest:
    """One job to run: which ids, for whom, where its messages go.

    Attributes:
        ids: distinct RequestIds, in the order they were given.
        team_id: the workspace (or Enterprise Grid org) it came from.
        user_id: the person who started it.
        channel_id: the conversation its messages are posted in.
        account: the LeadSquared account that answers.
    """

    ids: Sequence[str]
    team_id: str
    user_id: str
    channel_id: str
    account: Account

    @property
    def principal(self) -> str:
        """The budget principal of the job: ``slack:<team>:<user>``."""
        return f"slack:{self.team_id}:{self.user_id}"


class TriageJobs:
    """The triage jobs of one app: started, capped, tracked, stopped on shutdown.

    Args:
        service: the process's one service.
        options: caps and progress cadence (tests shorten the cadence).
        wall_clock: Unix time (injectable), for "checked at" and file names.
        clock: monotonic time (injectable), for the progress cadence.
    """

    def __init__(
        self,
        service: CaptureService,
        options: TriageOptions | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = _Runtime(service, options or TriageOptions(), wall_clock, clock)
        self._jobs: dict[str, set[asyncio.Task[None]]] = {}

    @property
    def options(self) -> TriageOptions:
        """The caps and cadence in effect."""
        return self._runtime.options

    def running(self, principal: str | None = None) -> int:
        """Jobs running now (of ``principal``, or of everyone)."""
        if principal is not None:
            return len(self._jobs.get(principal, ()))
        return sum(len(tasks) for tasks in self._jobs.values())

    def start(
        self,
        request: TriageRequest,
        *,
        client: AsyncWebClient,
        tell_user: TellUser,
        answer_max_ids: int,
    ) -> SlackMessage:
        """Start a job in the background, or refuse it; return the answer for the person.

        Refused, with the reason, when the person already runs as many jobs as one may (the
        ids of one job are capped before: ``CaptureService.batch_in``). Otherwise the answer
        gives the count and the ETA at the budget's pace, and the job runs on the bulk lane
        as the person's principal.

        Args:
            request: the ids, the person, the conversation and the account.
            client: the Web API client the job posts, updates and uploads with.
            tell_user: how to tell the person something privately.
            answer_max_ids: the most ids one answer shows as cards (said in the answer).
        """
        count = len(request.ids)
        running = self.running(request.principal)
        if running >= self.options.jobs_per_user:
            return busy_message(running)
        job = _Job(self._runtime, request, client, tell_user)
        task = asyncio.create_task(job.run(), name=f"triage of {count} ids")
        self._jobs.setdefault(request.principal, set()).add(task)
        task.add_done_callback(lambda done: self._forget(request.principal, done))
        eta = self._runtime.service.batch_seconds(count, account=request.account.name)
        return started_message(count, eta, max_ids=answer_max_ids)

    def _forget(self, principal: str, task: asyncio.Task[None]) -> None:
        tasks = self._jobs.get(principal)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._jobs[principal]

    async def wait(self) -> None:
        """Wait until every job running now has ended (bound it with ``asyncio.timeout``)."""
        tasks = [task for group in self._jobs.values() for task in group]
        if tasks:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        """Stop every job (each says so in its progress message) and wait for them."""
        tasks = [task for group in self._jobs.values() for task in group]
        if not tasks:
            return
        log.info("Stopping %d triage job(s)", len(tasks))
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=self.options.notice_seconds + 5.0)
        if pending:
            log.warning("%d triage job(s) did not stop in time", len(pending))


@dataclass(frozen=True, slots=True)
class _Runtime:
    """What every job of one app shares."""

    service: CaptureService
    options: TriageOptions
    wall_clock: Callable[[], float]
    clock: Callable[[], float]

    def render_context(self, account: Account) -> RenderContext:
        """What every message of a job shows besides its data (a new nonce each time)."""
        return RenderContext(
            checked_at=self.wall_clock(),
            upstream=account.label,
            demo=self.service.accounts.demo,
            nonce=secrets.token_hex(4),
            account=account.name,
        )


@dataclass
class _Cadence:
    """Whether a progress update is due: enough time *and* enough progress since the last."""

    seconds: float
    fraction: float
    total: int
    last_at: float
    last_done: int = 0

    def due(self, done: int, now: float) -> bool:
        if done >= self.total:
            return False  # the summary replaces the message right after
        enough_time = now - self.last_at >= self.seconds
        enough_progress = done - self.last_done >= max(self.fraction * self.total, 1)
        if enough_time and enough_progress:
            self.last_at, self.last_done = now, done
            return True
        return False


#: what a call to Slack can fail with: a refusal, a refused upload, the network
_SLACK_FAILURES = (SlackClientError, aiohttp.ClientError, TimeoutError)


def _reason(error: BaseException) -> str:
    """Slack's error code (``not_in_channel``, …), else the kind of failure."""
    return slack_error_code(error) if isinstance(error, SlackApiError) else type(error).__name__


class _Job:
    """One running job: its messages and its lookups."""

    def __init__(
        self,
        runtime: _Runtime,
        request: TriageRequest,
        client: AsyncWebClient,
        tell_user: TellUser,
    ) -> None:
        self._runtime = runtime
        self._request = request
        self._client = client
        self._tell_user = tell_user
        self._info = TriageJobInfo(count=len(request.ids), user_id=request.user_id)
        self._channel = request.channel_id
        #: the latest progress of the lookups
        self._progress: BatchProgress | None = None
        #: the progress message, once posted
        self._ts: str | None = None

    async def run(self) -> None:
        """Post, look up, update, summarise, upload; say whatever goes wrong."""
        try:
            await self._run()
        except asyncio.CancelledError:
            await self._say_stopped()
            raise
        except Exception as error:  # never silently: the conversation, else the person
            log.error("A triage job failed: %s", type(error).__name__)
            notice = job_notice(
                self._info,
                "failed",
                "Something unexpected went wrong on the app's side (the details are in its "
                f"logs). Try again in a minute, or run `{CLI_TRIAGE}` from a terminal.",
            )
            if not await self._replace(notice):
                await self._tell_user(notice)

    async def _run(self) -> None:
        try:
            posted = await self._client.chat_postMessage(  # pyright: ignore[reportUnknownMemberType]
                channel=self._channel, **progress_message(self._info, None, self._ctx())
            )
        except _SLACK_FAILURES as error:
            log.warning("Slack refused a triage progress message (%s)", _reason(error))
            await self._tell_user(_cannot_post(self._info, _reason(error)))
            return  # nothing looked up: no budget spent on answers nobody would see
        self._ts = str(posted.get("ts") or "")  # pyright: ignore[reportUnknownMemberType]
        clock = self._runtime.clock
        started = clock()
        options = self._runtime.options
        cadence = _Cadence(
            options.progress_seconds, options.progress_fraction, self._info.count, started
        )
        rows: list[TriageRow] = []
        batch = self._runtime.service.look_up_many(
            self._request.ids,
            caller=Caller.bulk(self._request.principal),
            account=self._request.account.name,
            shared=True,  # posted in the conversation: always masked
            on_progress=self._record,
        )
        async with _closing(batch):
            async for view in batch:
                rows.append(triage_row(view))
                progress = self._progress
                if progress is not None and cadence.due(progress.done, clock()):
                    await self._replace(progress_message(self._info, progress, self._ctx()))
        rows = in_input_order(rows, self._request.ids)
        summary = summarize(rows)
        message = summary_message(self._info, summary, clock() - started, self._ctx())
        if not await self._replace(message):
            await self._tell_user(
                job_notice(
                    self._info,
                    "the summary could not be posted",
                    "Slack refused to update the progress message (it may have been deleted). "
                    "The CSV file with every row follows, if Slack takes it.",
                )
            )
        await self._upload(rows, csv_comment(self._info, summary))

    def _record(self, progress: BatchProgress) -> None:
        self._progress = progress

    def _ctx(self) -> RenderContext:
        return self._runtime.render_context(self._request.account)

    async def _replace(self, message: SlackMessage) -> bool:
        """Update the progress message in place; False (logged) when Slack refuses."""
        if not self._ts:
            return False
        try:
            await self._client.chat_update(  # pyright: ignore[reportUnknownMemberType]
                channel=self._channel, ts=self._ts, text=message["text"], blocks=message["blocks"]
            )
        except _SLACK_FAILURES as error:
            log.warning("Slack refused a triage progress update (%s)", _reason(error))
            return False
        return True

    async def _upload(self, rows: Sequence[TriageRow], comment: str) -> None:
        """The CSV file of every row, in the conversation; a refusal is said there."""
        when = datetime.fromtimestamp(self._runtime.wall_clock(), UTC)
        try:
            await self._client.files_upload_v2(  # pyright: ignore[reportUnknownMemberType]
                channel=self._channel,
                content=triage_csv(rows),
                filename=f"capture-status-triage-{when:%Y%m%d-%H%M%S}.csv",
                title=self._info.title(),
                initial_comment=comment,
            )
        except _SLACK_FAILURES as error:
            reason = _reason(error)
        else:
            return
        log.warning("Slack refused a triage CSV file (%s)", reason)
        notice = job_notice(
            self._info,
            "the CSV file could not be uploaded",
            f"Slack said `{escape_cut(reason, 80)}`. The summary is complete; for every "
            f"row, run `{CLI_TRIAGE}` with the same ids from a terminal. If Slack said "
            "`missing_scope`, an admin needs to reinstall the app (it needs `files:write`).",
        )
        try:
            await self._client.chat_postMessage(  # pyright: ignore[reportUnknownMemberType]
                channel=self._channel, thread_ts=self._ts or None, **notice
            )
        except _SLACK_FAILURES:
            await self._tell_user(notice)

    async def _say_stopped(self) -> None:
        """A shutdown cancelled the job: say so in its message, briefly, whatever happens."""
        done = self._progress.done if self._progress is not None else 0
        message = stopped_message(self._info, done, self._ctx())
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout(self._runtime.options.notice_seconds):
                if not await self._replace(message):
                    await self._tell_user(message)


def _cannot_post(job: TriageJobInfo, reason: str) -> SlackMessage:
    return job_notice(
        job,
        "not started",
        f"Slack did not let the app post in this conversation (`{escape_cut(reason, 80)}`), "
        "and a triage job posts its progress, summary and CSV file there. Invite the app "
        "(`/invite @capture-status`) or use a channel it is in, or run "
        f"`{CLI_TRIAGE}` from a terminal. Nothing was looked up.",
    )


@contextlib.asynccontextmanager
async def _closing(batch: AsyncIterator[LookupView]) -> AsyncGenerator[None]:
    """Close the batch's generator when the job leaves it (its lookups stop at once)."""
    try:
        yield
    finally:
        if isinstance(batch, AsyncGenerator):
            await batch.aclose()
