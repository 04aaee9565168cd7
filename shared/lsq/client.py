"""``CaptureStatusClient``: look capture requests up quickly and safely under the rate limit.

One lookup goes through, in order (docs/architecture.md, "One lookup, in order"):

1. the id is validated (a GUID, also found inside pasted URLs or text) before any quota is spent;
2. the result cache (final statuses long, ERROR briefly, In-Queue a few seconds);
3. single-flight: concurrent lookups of one id share one upstream call;
4. one deadline for the whole operation;
5. retries of retryable errors only, with jittered backoff and Retry-After honoured;
6. the shared throttle cooldown, then the moving-window budget, then one HTTP GET.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

import stamina
from cachetools import TTLCache
from pydantic import SecretStr

from shared import defaults
from shared.errors import (
    CaptureStatusError,
    CircuitOpenError,
    DeadlineExceededError,
    EndpointNotFoundError,
    RateLimitedError,
    TooManyRequestIdsError,
    UpstreamError,
)
from shared.guard.breaker import CircuitBreaker
from shared.guard.cache import CacheTtls, ResultCache, SingleFlight
from shared.guard.lanes import ANONYMOUS, Caller, Ticket
from shared.guard.ratelimit import RateBudget, Sleep, ThrottleCooldown, account_key
from shared.guard.redis_link import RedisLink
from shared.lsq.bounds import LARGE_ANSWER
from shared.lsq.ids import extract_request_id
from shared.lsq.models import CaptureStatus, QueueMetrics, parse_metrics, parse_status, text_size
from shared.lsq.upstream import UpstreamHttp, UpstreamTimeouts

if TYPE_CHECKING:
    import httpx

__all__ = ["CaptureStatusClient", "ClientOptions", "ClientStats", "LookupResult"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_METRICS_KEY = "\x00metrics"


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Everything the client needs to know, as plain values (entry points fill it in)."""

    base_url: str
    status_path: str = defaults.STATUS_PATH
    fallback_status_path: str | None = defaults.STATUS_FALLBACK_PATH
    metrics_path: str = defaults.METRICS_PATH
    #: calls per window this process may make (the account's limit minus headroom)
    budget_calls: int = defaults.budget_calls()
    #: the window's length (a fraction of a second when a benchmark accelerates time)
    budget_seconds: float = defaults.RATE_LIMIT_SECONDS
    #: the account's limit as LeadSquared states it (quoted in throttle messages)
    limit_calls: int = defaults.RATE_LIMIT_CALLS
    #: extra seconds each call counts in the window, for network jitter (see RateBudget)
    budget_guard_seconds: float = defaults.RATE_WINDOW_GUARD_SECONDS
    #: this replica's share of the budget while the shared (Redis) window is unreachable
    fallback_budget_calls: int | None = None
    breaker_failure_threshold: int = defaults.BREAKER_FAILURES
    breaker_open_seconds: float = defaults.BREAKER_OPEN_SECONDS
    timeouts: UpstreamTimeouts = field(default_factory=UpstreamTimeouts)
    deadline_seconds: float = defaults.LOOKUP_DEADLINE_SECONDS
    retry_attempts: int = defaults.RETRY_ATTEMPTS
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 5.0
    backoff_jitter_seconds: float = 0.5
    #: how long everyone stands back after a throttle without Retry-After (default: one window)
    throttle_cooldown_seconds: float | None = None
    max_concurrency: int = defaults.MAX_CONCURRENCY
    max_ids_per_call: int = defaults.MAX_IDS_PER_CALL
    cache_ttls: CacheTtls = field(default_factory=CacheTtls)
    cache_max_entries: int = defaults.CACHE_MAX_ENTRIES
    metrics_ttl_seconds: float = defaults.METRICS_TTL_SECONDS
    #: a refresh of an id fetched less than this long ago is answered from the cache
    refresh_floor_seconds: float = defaults.REFRESH_FLOOR_SECONDS

    @property
    def limit_text(self) -> str:
        """The account's limit in words: ``25 calls per 5 s``."""
        return f"{self.limit_calls} calls per {self.budget_seconds:g} s"


@dataclass
class ClientStats:
    """Counters of what the client did, for tests, benchmarks and metrics."""

    upstream_calls: int = 0
    upstream_by_outcome: Counter[str] = field(default_factory=Counter[str])
    retries: int = 0
    throttles: int = 0
    lookups: int = 0
    #: refreshes answered from the cache because the id was fetched moments ago
    refreshes_from_cache: int = 0
    #: "found", "cached", or the error code of a failed lookup
    lookups_by_outcome: Counter[str] = field(default_factory=Counter[str])


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The answer for one id of :meth:`CaptureStatusClient.get_statuses`: a status or an error."""

    query: str
    request_id: str | None
    status: CaptureStatus | None = None
    error: CaptureStatusError | None = None

    @property
    def ok(self) -> bool:
        """True when a status was found."""
        return self.status is not None


class CaptureStatusClient:
    """Async client of the LeadSquared Capture Opportunities Status and Metrics APIs.

    Create one per process (in the entry point's startup), use it from every task, and close
    it on shutdown (``async with`` does both).

    Args:
        options: hosts, paths, budget, timeouts, retries and cache settings.
        api_key: the async ``x-api-key``.
        transport: an httpx transport instead of the network (tests, in-process simulator).
        link: Redis, to share the budget, the cooldown and the cache with other replicas.
        clock: a monotonic clock (injectable).
        sleep: how to wait for the budget and cooldowns (injectable).
    """

    def __init__(
        self,
        options: ClientOptions,
        api_key: SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        link: RedisLink | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.options = options
        self.stats = ClientStats()
        #: Redis, when budget, cooldown and cache are shared with other replicas
        self.link = link
        self._clock = clock
        self._http = UpstreamHttp(
            options.base_url,
            api_key,
            timeouts=options.timeouts,
            transport=transport,
            max_connections=max(options.max_concurrency, options.budget_calls),
            limit_text=options.limit_text,
        )
        key = account_key(options.base_url, api_key.get_secret_value())
        #: names this account in shared state (a hash: never the key itself)
        self.account_key = key
        self.budget = RateBudget(
            options.budget_calls,
            options.budget_seconds,
            key=key,
            guard_seconds=options.budget_guard_seconds,
            link=link,
            fallback_calls=options.fallback_budget_calls,
            clock=clock,
            sleep=sleep,
        )
        self.breaker = CircuitBreaker(
            failure_threshold=options.breaker_failure_threshold,
            open_seconds=options.breaker_open_seconds,
            clock=clock,
        )
        self.cooldown = ThrottleCooldown(key=key, link=link, clock=clock, sleep=sleep)
        self.cache = ResultCache(
            options.cache_ttls,
            max_entries=options.cache_max_entries,
            key=key,
            link=link,
            clock=clock,
        )
        self._flights: SingleFlight[str, CaptureStatus] = SingleFlight()
        self._metrics_flight: SingleFlight[str, QueueMetrics] = SingleFlight()
        self._metrics_cached: tuple[float, QueueMetrics] | None = None
        self._status_path = options.status_path
        self._status_path_settled = False
        #: the calls on their way, by id, so that a lookup joining one can raise its lane
        self._tickets: dict[str, Ticket] = {}
        #: when each id was last fetched from LeadSquared (to cap repeated refreshes)
        self._fetched_at: TTLCache[str, float] = TTLCache(
            maxsize=options.cache_max_entries,
            ttl=options.refresh_floor_seconds,
            timer=clock,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the budget's dispatcher and close the HTTP connection pool."""
        await self.budget.aclose()
        await self._http.aclose()

    @property
    def status_path(self) -> str:
        """The status path in use (the fallback once the default proved wrong)."""
        return self._status_path

    async def get_status(
        self,
        request_id: str,
        *,
        use_cache: bool = True,
        caller: Caller = ANONYMOUS,
        refresh_floor: bool = True,
    ) -> CaptureStatus:
        """Look up one capture request.

        Args:
            request_id: a RequestId, or text/URL containing exactly one.
            use_cache: False asks for a fresh upstream answer (a "refresh"); an id fetched
                less than ``refresh_floor_seconds`` ago is still answered from the cache, so
                repeated refreshes cannot spend the budget.
            caller: the budget lane and principal the lookup is for.
            refresh_floor: False for callers that pace their own checks (a wait), whose
                every check must reach LeadSquared.

        Raises:
            InvalidRequestIdError: no RequestId in ``request_id`` (no quota spent).
            UpstreamError: any subclass; the message says what to do next.
        """
        self.stats.lookups += 1
        try:
            rid = extract_request_id(request_id)
            just_fetched = refresh_floor and rid in self._fetched_at
            if use_cache or just_fetched:
                cached = await self.cache.get(rid)
                if cached is not None:
                    self.stats.lookups_by_outcome["cached"] += 1
                    if not use_cache:
                        self.stats.refreshes_from_cache += 1
                    return cached
            shared_call = self._tickets.get(rid)
            if shared_call is not None:  # joining a call on its way: it may not go slower
                self.budget.promote(shared_call, caller)
            status = await self._flights.do(rid, lambda: self._fetch_status(rid, caller))
        except CaptureStatusError as error:
            self.stats.lookups_by_outcome[error.code] += 1
            raise
        self.stats.lookups_by_outcome["found"] += 1
        return status

    async def get_statuses(
        self, request_ids: Sequence[str], *, use_cache: bool = True, caller: Caller = ANONYMOUS
    ) -> list[LookupResult]:
        """Look up several requests concurrently; one result per input, in input order.

        One bad or failing id never fails the others. ``use_cache=False`` refreshes them all.

        Raises:
            TooManyRequestIdsError: more than ``options.max_ids_per_call`` ids.
        """
        cap = self.options.max_ids_per_call
        if len(request_ids) > cap:
            raise TooManyRequestIdsError.over_cap(len(request_ids), cap)
        gate = asyncio.Semaphore(self.options.max_concurrency)

        async def one(query: str) -> LookupResult:
            async with gate:
                try:
                    status = await self.get_status(query, use_cache=use_cache, caller=caller)
                except CaptureStatusError as error:
                    return LookupResult(query=query, request_id=error.request_id, error=error)
                return LookupResult(query=query, request_id=status.request_id, status=status)

        return list(await asyncio.gather(*(one(q) for q in request_ids)))

    async def forget(self, request_id: str) -> None:
        """Drop the cached answer for ``request_id`` (here and, when shared, in Redis)."""
        await self.cache.forget(request_id.lower())

    async def get_metrics(self, *, caller: Caller = ANONYMOUS) -> QueueMetrics:
        """The Capture Opportunities queue metrics (cached for a few seconds).

        Args:
            caller: the budget lane and principal the figures are for.

        Raises:
            UpstreamError: any subclass; the message says what to do next.
        """
        cached = self._metrics_cached
        if cached is not None and self._clock() - cached[0] < self.options.metrics_ttl_seconds:
            return cached[1]
        return await self._metrics_flight.do(_METRICS_KEY, lambda: self._fetch_metrics(caller))

    async def _fetch_metrics(self, caller: Caller) -> QueueMetrics:
        ticket = Ticket(caller)

        async def attempt(deadline: float) -> QueueMetrics:
            payload = await self._call(self.options.metrics_path, {}, None, deadline, ticket)
            return parse_metrics(payload)

        metrics = await self._with_deadline(None, attempt)
        self._metrics_cached = (self._clock(), metrics)
        return metrics

    async def _fetch_status(self, rid: str, caller: Caller) -> CaptureStatus:
        ticket = self._tickets[rid] = Ticket(caller)

        async def attempt(deadline: float) -> CaptureStatus:
            payload = await self._get_status_payload(rid, deadline, ticket)
            if text_size(payload) > LARGE_ANSWER:
                # Decoding and bounding a large answer takes milliseconds of CPU: keep it off
                # the event loop, so acks and health checks are not held up meanwhile.
                return await asyncio.to_thread(parse_status, payload, request_id=rid)
            return parse_status(payload, request_id=rid)

        try:
            status = await self._with_deadline(rid, attempt)
        finally:
            if self._tickets.get(rid) is ticket:
                del self._tickets[rid]
        self._fetched_at[rid] = self._clock()
        await self.cache.put(status)
        return status

    async def _with_deadline(self, rid: str | None, attempt: Callable[[float], Awaitable[T]]) -> T:
        """Run ``attempt`` with retries, all inside one deadline."""
        seconds = self.options.deadline_seconds
        deadline = self._clock() + seconds
        try:
            async with asyncio.timeout(seconds):
                return await self._retrying(deadline, attempt)
        except TimeoutError:
            raise DeadlineExceededError(
                f"LeadSquared did not give a usable answer within {seconds:g} s (including "
                "retries). It may be slow or throttling this account; try again in a minute.",
                request_id=rid,
            ) from None

    async def _retrying(self, deadline: float, attempt: Callable[[float], Awaitable[T]]) -> T:
        opts = self.options

        def backoff(exc: Exception) -> bool | float:
            if not isinstance(exc, UpstreamError) or not exc.retryable:
                return False
            if isinstance(exc, CircuitOpenError):
                return False  # failing fast is the point
            if isinstance(exc, RateLimitedError):
                if exc.http_status is None:
                    return False  # our own budget said no within the deadline: retrying won't help
                wait = (exc.retry_after or self._cooldown_seconds()) + random.uniform(
                    0, opts.backoff_jitter_seconds
                )
                if self._clock() + wait > deadline:
                    return False
                return wait
            if exc.retry_after is not None:
                return exc.retry_after + random.uniform(0, opts.backoff_jitter_seconds)
            return True

        async for retry in stamina.retry_context(
            on=backoff,
            attempts=opts.retry_attempts,
            timeout=None,
            wait_initial=opts.backoff_initial_seconds,
            wait_max=opts.backoff_max_seconds,
            wait_jitter=opts.backoff_jitter_seconds,
        ):
            with retry:
                if retry.num > 1:
                    self.stats.retries += 1
                return await attempt(deadline)
        raise AssertionError("unreachable: stamina either returns or re-raises")  # pragma: no cover

    def _cooldown_seconds(self) -> float:
        return self.options.throttle_cooldown_seconds or float(self.options.budget_seconds)

    async def _get_status_payload(self, rid: str, deadline: float, ticket: Ticket) -> object:
        params = {"RequestID": rid}
        path = self._status_path
        try:
            payload = await self._call(path, params, rid, deadline, ticket)
        except EndpointNotFoundError:
            fallback = self.options.fallback_status_path
            if self._status_path_settled or not fallback or fallback == path:
                raise
            # The status path is not documented (two candidates): try the other one once.
            self._status_path_settled = True
            log.warning("status path %s is not served here; trying %s", path, fallback)
            try:
                payload = await self._call(fallback, params, rid, deadline, ticket)
            except EndpointNotFoundError as exc:
                raise EndpointNotFoundError(
                    f"The LeadSquared gateway serves neither {path} nor {fallback} on this "
                    "host. An admin should check LSQ_ASYNC_BASE_URL / LSQ_REGION and "
                    "LSQ_STATUS_PATH.",
                    request_id=rid,
                    http_status=exc.http_status,
                ) from None
            self._status_path = fallback
            log.warning("using status path %s from now on", fallback)
            return payload
        self._status_path_settled = True
        return payload

    async def _call(
        self,
        path: str,
        params: dict[str, str],
        rid: str | None,
        deadline: float,
        ticket: Ticket,
    ) -> object:
        probe = self.breaker.before_call(rid)
        outcome: UpstreamError | None = None
        finished = False
        try:
            await self.cooldown.wait(deadline=deadline, request_id=rid)
            await self.budget.acquire(deadline=deadline, request_id=rid, ticket=ticket)
            if not probe:
                # The circuit may have opened while this call waited for the budget (calls
                # queued behind a failing one): it must not go out then either.
                probe = self.breaker.before_call(rid)
            granted_at = self._clock()
            refused: list[RateLimitedError] = []

            async def before_send() -> None:
                # The window must hold where LeadSquared counts: a request that leaves long
                # after its slot was granted (a slow connect, a wait for a connection) would
                # land in a later window, so it takes a slot that starts now. The first slot
                # stays counted (a moving window gives none back): that only leaves more room.
                if self.budget.covers(granted_at):
                    return
                self.budget.late_sends += 1
                try:
                    await self.budget.acquire(deadline=deadline, request_id=rid, ticket=ticket)
                except RateLimitedError as exc:
                    refused.append(exc)
                    raise

            self.stats.upstream_calls += 1
            try:
                payload = await self._http.get_json(
                    path, params, request_id=rid, before_send=before_send
                )
            except RateLimitedError as exc:
                if refused and exc is refused[0]:
                    raise  # our own budget said no before anything was sent
                outcome = exc
                finished = True
                self._note_failure(path, rid, exc)
                await self.cooldown.start(exc.retry_after or self._cooldown_seconds())
                raise
            except UpstreamError as exc:
                outcome = exc
                finished = True
                self._note_failure(path, rid, exc)
                raise
            finished = True
            self.stats.upstream_by_outcome["ok"] += 1
            return payload
        finally:
            if finished:
                self.breaker.record(outcome, probe=probe)
            elif probe:
                self.breaker.release_probe()

    def _note_failure(self, path: str, rid: str | None, exc: UpstreamError) -> None:
        self.stats.upstream_by_outcome[exc.code] += 1
        if isinstance(exc, RateLimitedError):
            self.stats.throttles += 1
        # Failures LeadSquared may recover from matter to operators; answers about one
        # id (not found, unreadable) are the caller's business.
        log.log(
            logging.WARNING if exc.retryable else logging.DEBUG,
            "upstream %s for %s: %s (HTTP %s)",
            path,
            rid or "-",
            exc.code,
            exc.http_status,
            extra={"request_id": rid},
        )
