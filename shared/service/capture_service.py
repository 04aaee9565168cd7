"""``CaptureService``: the one home of the use cases every front door offers.

A front door (Slack app, MCP server, terminal) parses its input, picks the account through
:class:`~shared.accounts.Accounts` routing, calls one method here and renders the view it
gets back. The service owns what used to be repeated in each of them: finding RequestIds in
text, the per-call cap, the choice between queue metrics and an explained error, the wait
policy, and building views from lookups (docs/architecture.md, "Use cases").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, SecretStr

from shared import defaults
from shared.accounts import DEFAULT_ACCOUNT, Account, Accounts
from shared.errors import (
    CaptureStatusError,
    DeadlineExceededError,
    InvalidRequestIdError,
    RateLimitedError,
    TooManyRequestIdsError,
    TooManyWaitsError,
    TooManyWatchesError,
    UnknownAccountError,
    WatchUnavailableError,
)
from shared.explain.engine import Explanation, describe_metrics, explain_error
from shared.explain.redact import Redactor
from shared.guard.lanes import ANONYMOUS, Caller, PrincipalSlots
from shared.lsq.client import CaptureStatusClient, LookupResult
from shared.lsq.ids import REQUEST_ID_EXAMPLE, extract_request_id, find_request_ids
from shared.lsq.models import CaptureStatus, QueueMetrics, StatusKind
from shared.service.batch import BatchInput, OnBatchProgress, look_up_batch, read_batch
from shared.service.views import LookupView, look_up, lookup_view
from shared.service.waiting import PollSchedule, WaitOutcome, WaitProgress, wait_for_final
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import WatchEntry, WatchNotice, WatchView
from shared.service.watching import DEFAULT_FAMILY, WatchSettings, entry_of, watching_message
from shared.store import NewSubscriber, WatchAdded, WatchKey, WatchStore

if TYPE_CHECKING:
    from shared.service.watch_waits import WatchWaits

__all__ = ["CaptureService", "FoundIds", "QueueHealth", "WaitView"]

log = logging.getLogger(__name__)

#: the first check of a watched wait may take this long even when the wait is shorter
_FIRST_CHECK_SECONDS = 1.0

#: a front door's report of each check of a wait
OnWaitProgress = Callable[[WaitProgress], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FoundIds:
    """RequestIds found in text: the ones kept, and how many there were in all."""

    ids: list[str]
    found: int

    @property
    def left_out(self) -> int:
        """Ids found but not kept (over the cap)."""
        return self.found - len(self.ids)


class QueueHealth(BaseModel):
    """The queue of one account: its figures and their reading, or why they are missing."""

    model_config = ConfigDict(frozen=True)

    account: str
    #: where the figures come from, in words (``LeadSquared region sg``)
    source: str
    metrics: QueueMetrics | None = None
    #: the figures in one line (when there are figures)
    reading: str | None = None
    #: why there are no figures, explained (when the metrics call failed)
    error: Explanation | None = None
    #: the failure in one message for people (when the metrics call failed)
    message: str | None = None

    @property
    def ok(self) -> bool:
        """The figures came in."""
        return self.metrics is not None


class WaitView(BaseModel):
    """How a wait ended, with the last status seen (or why no check got an answer).

    Attributes:
        account: the account that answered.
        request_id: the RequestId waited for.
        answered: at least one check got a status (``view`` holds the latest).
        finished: that status is final (Success or FAILURE).
        timed_out: the wait ended because its time was up.
        elapsed_seconds: how long it took.
        timeout_seconds: the time it was given.
        checks: how many checks were made.
        view: the latest status, explained; or, when no check was answered, the failure.
        last_error: why the last check failed, when it did (the wait may still have a view).
    """

    model_config = ConfigDict(frozen=True)

    account: str
    request_id: str
    answered: bool
    finished: bool
    timed_out: bool
    elapsed_seconds: float
    timeout_seconds: float
    checks: int
    view: LookupView
    last_error: LookupView | None = None


class CaptureService:
    """Look up, explain and wait for capture requests, on any configured account.

    Create one per process in the entry point's start-up (see :func:`shared.open_service`)
    and pass it to the front door.

    Args:
        accounts: the accounts of this deployment and their routes.
        clients: one open client per account name (each with its own budget, cooldown,
            breaker, cache and single-flight).
        mask_pii: mask personal data in views (``LSQ_MASK_PII``); shared copies always are.
        poll_schedule: the pauses between the checks of a wait.
        max_waits_per_principal: waits one principal (an MCP token, a Slack user) may run
            at once; more are refused with :class:`~shared.errors.TooManyWaitsError`.
        store: the durable store of watches (``None``: this process cannot watch).
        watch_settings: the watch schedule and limits.
        clock: wall-clock seconds for watches (the store's clock; tests move it).
        speed: seconds of ``clock`` per real second (benchmarks accelerate the clock; the
            budget keeps real time).
    """

    def __init__(
        self,
        accounts: Accounts,
        clients: Mapping[str, CaptureStatusClient],
        *,
        mask_pii: bool = True,
        poll_schedule: PollSchedule | None = None,
        max_waits_per_principal: int = defaults.MAX_WAITS_PER_PRINCIPAL,
        store: WatchStore | None = None,
        watch_settings: WatchSettings | None = None,
        clock: Callable[[], float] = time.time,
        speed: float = 1.0,
    ) -> None:
        missing = [name for name in accounts.names if name not in clients]
        if missing:
            raise ValueError(f"no client for account(s) {', '.join(missing)}")
        self.accounts = accounts
        self._clients = dict(clients)
        self._mask_pii = mask_pii
        self._poll_schedule = poll_schedule or PollSchedule()
        self._waits = PrincipalSlots(max_waits_per_principal)
        self.store = store
        self._watch = watch_settings or WatchSettings()
        self._clock = clock
        self._speed = speed

    @classmethod
    def for_client(
        cls,
        client: CaptureStatusClient,
        *,
        name: str = DEFAULT_ACCOUNT,
        app_base_url: str | None = None,
        mask_pii: bool = True,
        poll_schedule: PollSchedule | None = None,
        demo: bool = False,
    ) -> CaptureService:
        """A service over one already-built client (embedding, tests): the account ``name``."""
        account = Account(
            name=name,
            base_url=client.options.base_url,
            api_key=SecretStr(""),  # the client holds the key; the service never needs it
            app_base_url=app_base_url,
            demo=demo,
        )
        accounts = Accounts(by_name={name: account}, default=name)
        return cls(accounts, {name: client}, mask_pii=mask_pii, poll_schedule=poll_schedule)

    # --- accounts ---------------------------------------------------------------------------

    def account(self, name: str | None = None, *, allowed: Sequence[str] | None = None) -> Account:
        """The account called ``name`` (the default one when ``None``), if the caller may reach it.

        Args:
            name: an account name, or ``None``.
            allowed: the names this caller may reach (``None``: every account). With exactly
                one, ``name`` may be left out.

        Raises:
            UnknownAccountError: no such account, or not one this caller may reach.
        """
        if allowed is None:
            return self.accounts.get(name)
        if name is None:
            if self.accounts.default in allowed:
                return self.accounts.get()
            if len(allowed) == 1:
                return self.accounts.get(allowed[0])
            raise UnknownAccountError.unreachable(None, allowed)
        if name.strip().lower() in allowed or set(allowed) >= set(self.accounts.names):
            return self.accounts.get(name)
        raise UnknownAccountError.unreachable(name, allowed)

    def accounts_to_try(
        self, account: str | None = None, *, allowed: Sequence[str] | None = None
    ) -> list[str]:
        """The accounts a batch asks, in order: the one named; else the default account (or
        the first this caller reaches), then every other account the caller may reach.

        Raises:
            UnknownAccountError: no such account, or none this caller may reach.
        """
        if account is not None:
            return [self.account(account, allowed=allowed).name]
        reachable = [name for name in self.accounts.names if allowed is None or name in allowed]
        if not reachable:
            raise UnknownAccountError.unreachable(None, list(allowed or ()))
        first = self.accounts.default if self.accounts.default in reachable else reachable[0]
        return [first, *(name for name in reachable if name != first)]

    def client(self, account: str | None = None) -> CaptureStatusClient:
        """The open client of ``account`` (the default one when ``None``)."""
        return self._clients[self.accounts.get(account).name]

    @property
    def clients(self) -> Mapping[str, CaptureStatusClient]:
        """Every open client, by account name (for metrics and health)."""
        return self._clients

    def redactor(self, *, shared: bool = False) -> Redactor:
        """How views mask PII: as configured, and always for copies shared with others."""
        return Redactor(enabled=True if shared else self._mask_pii)

    # --- parsing ----------------------------------------------------------------------------

    def request_ids_in(
        self, text: str, *, max_ids: int | None = None, account: str | None = None
    ) -> list[str]:
        """Every distinct RequestId written in ``text`` (pasted URLs and log lines included).

        Raises:
            InvalidRequestIdError: ``text`` holds no RequestId (the message says what one is).
            TooManyRequestIdsError: more than ``max_ids`` (or the client's cap) distinct ids.
        """
        ids = find_request_ids(text)
        if not ids:
            extract_request_id(text)  # raises with the core's wording for this text
            raise InvalidRequestIdError(_NO_IDS)  # pragma: no cover (extract always raises)
        self._check_count(len(ids), max_ids, self.client(account))
        return ids

    def first_request_ids(
        self, texts: Sequence[str], *, max_ids: int | None = None, account: str | None = None
    ) -> FoundIds:
        """The distinct RequestIds written in ``texts``, in order, keeping the first ones.

        For answers that show what they can rather than refuse (a message holding more ids
        than one answer takes): ``found`` says how many there were in all.
        """
        seen = dict.fromkeys(rid for text in texts for rid in find_request_ids(text))
        cap = self.client(account).options.max_ids_per_call
        if max_ids is not None:
            cap = min(cap, max_ids)
        return FoundIds(ids=list(seen)[:cap], found=len(seen))

    def batch_in(self, data: str | bytes, *, max_ids: int | None = None) -> BatchInput:
        """Every RequestId of a batch's input, with what was skipped (see ``read_batch``).

        Args:
            data: text or raw bytes (a file, standard input, a pasted message).
            max_ids: the most distinct ids this front door triages at once (``None``: any).

        Raises:
            InvalidRequestIdError: no RequestId at all (the message says what was skipped).
            TooManyRequestIdsError: more than ``max_ids`` (the message says how to do more).
        """
        batch = read_batch(data)
        if not batch.ids:
            raise InvalidRequestIdError(f"No RequestId to triage. {batch.describe()}")
        if max_ids is not None and len(batch.ids) > max_ids:
            raise TooManyRequestIdsError.over_batch_cap(len(batch.ids), max_ids)
        return batch

    def watch_ids_in(self, text: str, *, max_ids: int | None = None) -> list[str]:
        """Every distinct RequestId written in ``text``, to watch each (a front door's
        ``watch <id> …``), at most ``max_ids`` of them (``None``: any number).

        Raises:
            InvalidRequestIdError: ``text`` holds no RequestId (the message says what one is).
            TooManyRequestIdsError: more than ``max_ids`` distinct ids.
        """
        ids = find_request_ids(text)
        if not ids:
            extract_request_id(text)  # raises with the core's wording for this text
            raise InvalidRequestIdError(_NO_IDS)  # pragma: no cover (extract always raises)
        if max_ids is not None and len(ids) > max_ids:
            raise TooManyRequestIdsError.over_watch_cap(len(ids), max_ids)
        return ids

    def _check_count(self, count: int, max_ids: int | None, client: CaptureStatusClient) -> None:
        if count == 0:
            raise InvalidRequestIdError(_NO_IDS)
        cap = client.options.max_ids_per_call
        if max_ids is not None:
            cap = min(cap, max_ids)
        if count > cap:
            raise TooManyRequestIdsError.over_cap(count, cap)

    # --- use cases --------------------------------------------------------------------------

    async def look_up(
        self,
        queries: Sequence[str],
        *,
        account: str | None = None,
        max_ids: int | None = None,
        shared: bool = False,
        fresh: bool = False,
        caller: Caller = ANONYMOUS,
    ) -> list[LookupView]:
        """Look up and explain each query (a RequestId, or text holding one), in order.

        One bad or failing id gets its own failed view; it never fails the others. Queue
        metrics are added to In-Queue answers when they come.

        Args:
            queries: RequestIds (or text with one each).
            account: the account to ask (default: the default account).
            max_ids: this front door's cap (the client's cap applies too).
            shared: the views are for a copy shared with others (always masked).
            fresh: ask LeadSquared afresh instead of answering from the cache.
            caller: the budget lane and principal (who is waiting for these answers).

        Raises:
            InvalidRequestIdError: no queries at all.
            TooManyRequestIdsError: more queries than ``max_ids`` or the client's cap.
            UnknownAccountError: no such account.
        """
        target = self.accounts.get(account)
        self._check_count(len(queries), max_ids, self._clients[target.name])
        views = await look_up(
            self._clients[target.name],
            list(queries),
            app_base_url=target.app_base_url,
            redactor=self.redactor(shared=shared),
            fresh=fresh,
            caller=caller,
        )
        return [view.model_copy(update={"account": target.name}) for view in views]

    def look_up_many(
        self,
        ids: Sequence[str],
        *,
        caller: Caller,
        account: str | None = None,
        also_try: Sequence[str] = (),
        shared: bool = False,
        fresh: bool = False,
        concurrency: int | None = None,
        on_progress: OnBatchProgress | None = None,
    ) -> AsyncIterator[LookupView]:
        """Look any number of RequestIds up; yield each view as it completes.

        Nothing is lost: an id the budget cannot serve in time is queued again, an id whose
        lookup fails gets a failed view with the reason, and an id ``account`` does not know
        is tried on the accounts of ``also_try`` in turn (a batch mixing accounts' ids).
        Views carry no queue metrics (a batch would spend budget on them for nothing).

        Args:
            ids: distinct RequestIds (see :func:`~shared.service.batch.read_batch`).
            caller: the lane and principal (a batch normally takes the bulk lane).
            account: the account to ask first (default: the default account).
            also_try: further accounts for ids the first one does not know.
            shared: the views are for a copy shared with others (always masked).
            fresh: ask LeadSquared afresh instead of answering from the cache.
            concurrency: lookups in flight at once (default: one window of the budget).
            on_progress: called after each answer.

        Raises:
            UnknownAccountError: no such account.
        """
        names = [self.accounts.get(account).name]
        names += [n for n in (self.accounts.get(a).name for a in also_try) if n not in names]
        targets = [
            (name, self._clients[name], self.accounts.get(name).app_base_url) for name in names
        ]
        return look_up_batch(
            targets,
            ids,
            caller=caller,
            redactor=self.redactor(shared=shared),
            fresh=fresh,
            concurrency=concurrency,
            on_progress=on_progress,
        )

    def batch_seconds(self, count: int, *, account: str | None = None) -> float:
        """The least time ``count`` lookups take at the budget's pace (for ETAs up front)."""
        budget = self.client(account).budget
        return count * budget.spacing

    async def queue_health(
        self, *, account: str | None = None, caller: Caller = ANONYMOUS
    ) -> QueueHealth:
        """The queue metrics of ``account`` with their reading, or the explained failure.

        Args:
            account: the account to ask (default: the default account).
            caller: the budget lane and principal (who is waiting for these figures).

        Raises:
            UnknownAccountError: no such account.
        """
        target = self.accounts.get(account)
        try:
            metrics = await self._clients[target.name].get_metrics(caller=caller)
        except CaptureStatusError as error:
            return QueueHealth(
                account=target.name,
                source=target.label,
                error=explain_error(error),
                message=error.message,
            )
        return QueueHealth(
            account=target.name,
            source=target.label,
            metrics=metrics,
            reading=describe_metrics(metrics),
        )

    async def queue_healths(
        self, accounts: Sequence[Account], *, caller: Caller = ANONYMOUS
    ) -> list[QueueHealth]:
        """:meth:`queue_health` of several accounts at once, in order, for ``caller``."""
        return list(
            await asyncio.gather(
                *(self.queue_health(account=item.name, caller=caller) for item in accounts)
            )
        )

    async def wait(
        self,
        query: str,
        *,
        account: str | None = None,
        timeout_seconds: float,
        on_progress: OnWaitProgress | None = None,
        caller: Caller = ANONYMOUS,
        waits: WatchWaits | None = None,
    ) -> WaitView:
        """Wait until ``query``'s request is final or ``timeout_seconds`` pass; report each check.

        With ``waits`` (a process whose watcher runs, see :class:`WatchWaits`) and a store,
        the wait follows the request's watch: after a first lookup, the watcher checks the
        request (the watch lane, on the watch's schedule, one check for everyone following
        it) and the wait wakes on its result. Otherwise, or when the store cannot take the
        watch (down, or ``caller`` follows as many requests as allowed), the wait checks the
        request itself (the caller's lane, on the poll schedule).

        The answer comes within ``timeout_seconds``: queue figures are added to an unfinished
        wait only when they come in the time left (and not after a throttle, whose cooldown
        holds them back too).

        Raises:
            CaptureStatusError: not a RequestId, or an error retrying cannot fix (not found,
                refused key, ...).
            TooManyWaitsError: ``caller`` already runs as many waits as one caller may.
            UnknownAccountError: no such account.
            ValueError: ``timeout_seconds`` is negative or not finite.
        """
        if not (math.isfinite(timeout_seconds) and timeout_seconds >= 0):
            raise ValueError(f"timeout_seconds must be a finite number >= 0, not {timeout_seconds}")
        target = self.accounts.get(account)
        client = self._clients[target.name]
        with self._waits.hold(caller.principal) as allowed:
            if not allowed:
                raise TooManyWaitsError.over_cap(self._waits.cap)
            outcome = None
            if waits is not None and self.store is not None and timeout_seconds > 0:
                outcome = await self._wait_watching(
                    client, target, query, waits, timeout_seconds, on_progress, caller
                )
            if outcome is None:
                outcome = await wait_for_final(
                    client,
                    query,
                    timeout_seconds=timeout_seconds,
                    on_progress=on_progress,
                    schedule=self._poll_schedule,
                    caller=caller,
                )
        redactor = self.redactor()
        last_error = None
        if outcome.last_error is not None:
            failed = LookupResult(
                query=query, request_id=outcome.request_id, error=outcome.last_error
            )
            last_error = lookup_view(failed).model_copy(update={"account": target.name})
        if outcome.status is None:
            assert last_error is not None  # every check failed with a temporary error
            view = last_error
        else:
            metrics = None
            if not (outcome.finished or isinstance(outcome.last_error, RateLimitedError)):
                left = timeout_seconds - outcome.elapsed_seconds
                metrics = await _metrics_within(client, left, caller)
            result = LookupResult(query=query, request_id=outcome.request_id, status=outcome.status)
            view = lookup_view(
                result, metrics=metrics, app_base_url=target.app_base_url, redactor=redactor
            ).model_copy(update={"account": target.name})
        return WaitView(
            account=target.name,
            request_id=outcome.request_id,
            answered=outcome.status is not None,
            finished=outcome.finished,
            timed_out=outcome.timed_out,
            elapsed_seconds=outcome.elapsed_seconds,
            timeout_seconds=timeout_seconds,
            checks=outcome.checks,
            view=view,
            last_error=last_error,
        )

    async def _wait_watching(
        self,
        client: CaptureStatusClient,
        target: Account,
        query: str,
        waits: WatchWaits,
        timeout_seconds: float,
        on_progress: OnWaitProgress | None,
        caller: Caller,
    ) -> WaitOutcome | None:
        """A wait woken by the watcher (see :meth:`wait`); ``None``: the store cannot take
        the watch, so the caller checks by itself."""
        rid = extract_request_id(query)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout_seconds
        checks = 1
        status: CaptureStatus | None = None
        error: CaptureStatusError | None = None

        async def report(next_check_at: float | None) -> None:
            if on_progress is None:
                return
            pause = None if next_check_at is None else max(0.0, next_check_at - self._clock())
            await on_progress(
                WaitProgress(
                    request_id=rid,
                    checks=checks,
                    elapsed_seconds=loop.time() - started,
                    timeout_seconds=timeout_seconds,
                    status=status,
                    error=error,
                    next_check_in_seconds=pause,
                )
            )

        def outcome() -> WaitOutcome:
            return WaitOutcome(
                request_id=rid,
                status=status,
                finished=status is not None and status.is_final,
                checks=checks,
                elapsed_seconds=loop.time() - started,
                timeout_seconds=timeout_seconds,
                last_error=error,
            )

        with waits.waiting(target.name, rid) as wait:
            try:  # the first check is this caller's (a final status ends the wait at once)
                async with asyncio.timeout_at(max(deadline, started + _FIRST_CHECK_SECONDS)):
                    status = await client.get_status(rid, caller=caller)
            except CaptureStatusError as failed:
                if not failed.retryable:
                    raise
                error = failed
            except TimeoutError:
                error = DeadlineExceededError(
                    f"LeadSquared did not answer within this {timeout_seconds:g} s wait. Try "
                    "again in a minute.",
                    request_id=rid,
                )
                await report(None)
                return outcome()
            if status is not None and status.is_final:
                await report(None)
                return outcome()
            try:
                added = await self._follow(
                    target, rid, status, wait.subscriber(caller.principal), timeout_seconds
                )
            except (WatchUnavailableError, TooManyWatchesError) as why:
                log.info("a wait for %s checks by itself: %s", rid, why.code)
                return None
            ended: WatchNotice | None = None
            try:
                await report(added.watch.next_check_at)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        while ended is None:
                            event = await wait.next_event()
                            if isinstance(event, WatchNotice):
                                ended = event
                                continue
                            checks += 1
                            if event.status is not None:
                                status = event.status
                            error = event.error
                            if event.ended is None:
                                await report(event.next_check_at)
            finally:
                if ended is None:  # the time is up first (or the caller left): stop following
                    with contextlib.suppress(WatchUnavailableError):
                        await asyncio.shield(
                            self.unwatch(
                                None,
                                principal=caller.principal,
                                kind=waits.kind,
                                target_key=wait.target_key,
                            )
                        )
        if ended is not None:
            if ended.end == "failed":  # a check failed for good (the id vanished, ...)
                if error is None or error.retryable:  # another replica's check saw it
                    error = CaptureStatusError(ended.headline, request_id=rid)
                raise error
            seen = ended.view.status if ended.view is not None else None
            if seen is not None and not (status is not None and status.is_final):
                status = seen  # the watcher's latest answer (another replica's check)
        await report(None)
        return outcome()

    async def _follow(
        self,
        target: Account,
        rid: str,
        status: CaptureStatus | None,
        subscriber: NewSubscriber,
        expires_in: float | None,
        *,
        limited: bool = True,
    ) -> WatchAdded:
        """Add ``subscriber`` to the watch of ``rid`` (started if needed), whose latest
        answer is ``status`` (``None``: the lookup failed for now); ``limited``: count it
        against the per-person and per-workspace limits."""
        store = self._require_store()
        now = self._clock()
        policy = self._watch.policy
        expires_at = now + (expires_in if expires_in is not None else policy.expiry_seconds)
        kind = status.task.status if status is not None else None
        floor = await self.routine_floor(target.name) if kind is StatusKind.IN_QUEUE else 0.0
        next_at = (
            policy.next_check_at(
                kind,
                now=now,
                created_at=now,
                expires_at=expires_at,
                error_since=now if kind is StatusKind.ERROR else None,
                routine_floor=floor,
            )
            if kind is not None
            else policy.after_failure(1, now=now, expires_at=expires_at)
        )
        return await store.add(
            WatchKey(target.name, DEFAULT_FAMILY, rid),
            subscriber,
            status=kind.value if kind is not None else None,
            next_check_at=next_at,
            expires_at=expires_at,
            limits=self._watch.limits if limited else None,
            view_json=self.watch_view_json(target.name, rid, status=status)
            if status is not None
            else None,
        )

    # --- watches ----------------------------------------------------------------------------

    @property
    def watch_policy(self) -> WatchPolicy:
        """How watches are scheduled, leased and expired."""
        return self._watch.policy

    async def routine_floor(self, account: str) -> float:
        """The shortest pause of a routine check of ``account``'s watches now: its routinely
        checked watches spread over its budget (``WatchPolicy.routine_floor``).

        Raises:
            WatchUnavailableError: the store is down or not set up.
        """
        policy = self._watch.policy
        routine = await self._require_store().routine_count(
            account, error_since_before=self._clock() - policy.retries_seconds
        )
        # the budget's pace, in seconds of the watches' clock per call
        spacing = self.client(account).budget.spacing * self._speed
        return policy.routine_floor(routine, 1.0 / spacing if spacing > 0 else 0.0)

    def _require_store(self) -> WatchStore:
        if self.store is None:
            raise WatchUnavailableError.not_configured()
        return self.store

    async def watch_readiness(self) -> str | None:
        """``None`` while watches can be kept, else why not (for ``/readyz``)."""
        if self.store is None:
            return None
        return await self.store.ready()

    def watch_view_json(
        self,
        account: str,
        request_id: str,
        *,
        status: CaptureStatus | None = None,
        error: CaptureStatusError | None = None,
    ) -> str:
        """The masked view a watch keeps of its latest answer (the store holds no PII)."""
        target = self.accounts.get(account)
        result = LookupResult(query=request_id, request_id=request_id, status=status, error=error)
        view = lookup_view(
            result, app_base_url=target.app_base_url, redactor=self.redactor(shared=True)
        )
        return view.model_copy(update={"account": target.name}).model_dump_json()

    async def watch(
        self,
        query: str,
        *,
        subscriber: NewSubscriber,
        caller: Caller,
        account: str | None = None,
        expires_in: float | None = None,
        limited: bool = True,
    ) -> WatchView:
        """Tell ``subscriber`` when ``query``'s request is final: answer now, watch if needed.

        The request is looked up at once for ``caller`` (interactive: the person waits for
        this answer). A final status, an unknown id or an id of another account is answered
        with no watch; anything else joins (or starts) the one watch of that request.

        Args:
            query: a RequestId, or text holding one.
            subscriber: who to tell and where.
            caller: who is asking now (their lane and principal).
            account: the account to ask (default: the default account).
            expires_in: how long to watch at most (default: the policy's expiry, 12 h).
            limited: count it against the per-person and per-workspace limits; a terminal's
                own watches (which end when it stops) are not.

        Raises:
            InvalidRequestIdError: no RequestId in ``query`` (nothing looked up).
            TooManyWatchesError: the person or the workspace follows its limit already.
            WatchUnavailableError: the store is down or not set up (lookups still work).
            UnknownAccountError: no such account.
        """
        rid = extract_request_id(query)
        self._require_store()  # no store: "cannot watch here", before any lookup
        target = self.accounts.get(account)
        [view] = await self.look_up([rid], account=target.name, caller=caller)
        status = view.status
        if status is None:
            assert view.error is not None
            if not view.error.retryable:  # unknown here, refused key, ...: nothing to watch
                return WatchView(
                    request_id=rid,
                    account=target.name,
                    watching=False,
                    view=view,
                    message="Not watched: " + view.explanation.headline,
                )
        elif status.is_final:
            return WatchView(
                request_id=rid,
                account=target.name,
                watching=False,
                view=view,
                message="It is final already, so there is nothing to watch.",
            )
        now = self._clock()
        added = await self._follow(target, rid, status, subscriber, expires_in, limited=limited)
        return WatchView(
            request_id=rid,
            account=target.name,
            watching=True,
            new_watch=added.new_watch,
            already=not added.new_subscriber,
            expires_at=added.watch.expires_at,
            view=view,
            message=watching_message(
                new_watch=added.new_watch,
                already=not added.new_subscriber,
                expires_in=added.watch.expires_at - now,
            ),
        )

    async def unwatch(
        self,
        query: str | None,
        *,
        principal: str,
        subscriber_id: int | None = None,
        kind: str | None = None,
        target_key: str | None = None,
    ) -> int:
        """Stop ``principal``'s watches of ``query``'s request (or the subscription
        ``subscriber_id``); return how many were stopped (0: none matched).

        Raises:
            InvalidRequestIdError: ``query`` holds no RequestId.
            WatchUnavailableError: the store is down or not set up.
        """
        rid = extract_request_id(query) if query is not None else None
        return await self._require_store().remove(
            principal, request_id=rid, subscriber_id=subscriber_id, kind=kind, target_key=target_key
        )

    async def watches(self, principal: str) -> list[WatchEntry]:
        """``principal``'s running watches, newest first.

        Raises:
            WatchUnavailableError: the store is down or not set up.
        """
        subscribers = await self._require_store().subscriptions(principal)
        return [entry_of(subscriber) for subscriber in subscribers]

    async def channel_threads(self, scope: str, channel: str) -> bool:
        """Whether watches started from a message in ``channel`` (of ``scope``, e.g. a Slack
        workspace ``slack:<team>``) also answer in that message's thread (default: yes).

        Raises:
            WatchUnavailableError: the store is down or not set up.
        """
        return await self._require_store().channel_threads(scope, channel)

    async def set_channel_threads(self, scope: str, channel: str, threads: bool) -> None:
        """Turn thread answers of watches started in ``channel`` on or off.

        Raises:
            WatchUnavailableError: the store is down or not set up.
        """
        await self._require_store().set_channel_threads(scope, channel, threads)


_NO_IDS = (
    f"No RequestIds were given. Give one or more RequestIds (GUIDs such as {REQUEST_ID_EXAMPLE})."
)


async def _metrics_within(
    client: CaptureStatusClient, seconds: float, caller: Caller
) -> QueueMetrics | None:
    """The queue figures, if they come within ``seconds``."""
    if seconds <= 0:
        return None
    try:
        async with asyncio.timeout(seconds):
            return await client.get_metrics(caller=caller)
    except (CaptureStatusError, TimeoutError):
        return None
