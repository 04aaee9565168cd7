"""Turning :class:`Settings` into a ready :class:`CaptureService`, for entry points.

Entry points (CLI, Slack app, MCP server) call :func:`open_service` once at start-up: it
reads the accounts (``LSQ_ACCOUNTS_FILE``, else v1's ``LSQ_*`` variables), opens one
client per account (its own budget, cooldown, breaker, cache and single-flight, shared with
other replicas through Redis when ``REDIS_URL`` is set) and closes them all afterwards.
Without LeadSquared credentials every account is served by the built-in simulator, in
process, and :func:`demo_banner` says so loudly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from shared.accounts import DEMO_BASE_URL, Accounts, load_accounts
from shared.demo import demo_simulator_app
from shared.errors import WatchUnavailableError
from shared.guard.cache import CacheTtls
from shared.guard.redis_link import RedisLink
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.lsq.upstream import UpstreamTimeouts, in_process_transport
from shared.service.capture_service import CaptureService
from shared.service.waiting import PollSchedule
from shared.service.watch_schedule import WatchPolicy
from shared.service.watching import WatchSettings
from shared.settings import Settings
from shared.store import (
    WatchLimits,
    WatchStore,
    async_database_url,
    create_store_engine,
    describe_database,
    schema_state,
    upgrade,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "client_options",
    "demo_banner",
    "migrate_store",
    "open_service",
    "open_store",
    "watch_settings",
]

log = logging.getLogger(__name__)


def client_options(settings: Settings, *, base_url: str | None = None) -> ClientOptions:
    """The client options that ``settings`` describe (for the account at ``base_url``)."""
    return ClientOptions(
        base_url=base_url or settings.async_base_url,
        status_path=settings.lsq_status_path,
        fallback_status_path=settings.lsq_status_fallback_path,
        metrics_path=settings.lsq_metrics_path,
        budget_calls=settings.rate_budget_calls,
        budget_seconds=settings.lsq_rate_limit_seconds,
        limit_calls=settings.lsq_rate_limit_calls,
        budget_guard_seconds=settings.lsq_rate_window_guard_seconds,
        timeouts=UpstreamTimeouts(
            connect=settings.lsq_connect_timeout_seconds, read=settings.lsq_read_timeout_seconds
        ),
        deadline_seconds=settings.lsq_lookup_deadline_seconds,
        retry_attempts=settings.lsq_retry_attempts,
        throttle_cooldown_seconds=settings.lsq_throttle_cooldown_seconds,
        max_concurrency=settings.lsq_max_concurrency,
        max_ids_per_call=settings.lsq_max_ids_per_call,
        cache_ttls=CacheTtls(
            final=settings.lsq_cache_final_ttl_seconds,
            error_status=settings.lsq_cache_error_status_ttl_seconds,
            pending=settings.lsq_cache_pending_ttl_seconds,
        ),
        cache_max_entries=settings.lsq_cache_max_entries,
        fallback_budget_calls=max(1, settings.rate_budget_calls // settings.lsq_fallback_replicas),
        breaker_failure_threshold=settings.lsq_breaker_failures,
        breaker_open_seconds=settings.lsq_breaker_open_seconds,
    )


def demo_banner() -> str:
    """The loud notice shown whenever capture-status runs on its simulator."""
    return (
        "DEMO MODE: capture-status answers from its built-in LeadSquared simulator. Nothing "
        "here is real data. Set LSQ_API_KEY and LSQ_REGION (or LSQ_ASYNC_BASE_URL), or "
        "LSQ_ACCOUNTS_FILE for several accounts, to look up real capture requests."
    )


def watch_settings(settings: Settings) -> WatchSettings:
    """The watch schedule and limits that ``settings`` describe."""
    return WatchSettings(
        policy=WatchPolicy(expiry_seconds=settings.watch_expiry_hours * 3600.0),
        limits=WatchLimits(
            per_principal=settings.watches_per_user, per_scope=settings.watches_per_workspace
        ),
    )


async def migrate_store(settings: Settings) -> str:
    """Bring the database ``DATABASE_URL`` names to this version's schema; say where it stands.

    The one-shot step of a deployment (``capture-status migrate``: the compose ``migrate``
    service, the Kubernetes Job), run before replicas start. Running it again changes nothing.

    Raises:
        WatchUnavailableError: the database did not answer (the message says what to check).
    """
    url = async_database_url(settings.database_url.get_secret_value())
    engine = create_store_engine(url)
    try:
        state = await upgrade(engine)
    except Exception as error:
        raise WatchUnavailableError(
            f"Could not migrate the {describe_database(url)} ({type(error).__name__}): check "
            "DATABASE_URL, that the database exists and answers, and that the user may "
            "create tables."
        ) from error
    finally:
        await engine.dispose()
    return f"The {describe_database(url)} is up to date: {state.describe()}."


@asynccontextmanager
async def open_store(
    settings: Settings, *, clock: Callable[[], float] = time.time
) -> AsyncGenerator[WatchStore]:
    """Open the store of watches that ``DATABASE_URL`` names; close it after.

    A SQLite file belongs to this machine: its schema is brought up to date here. A shared
    PostgreSQL database is migrated by the one-shot ``capture-status migrate`` step, never by
    a replica: a replica whose database is behind or down says so once, in the log and on
    ``/readyz``, and keeps answering lookups ("cannot watch right now" for watches).
    """
    url = async_database_url(settings.database_url.get_secret_value())
    store = WatchStore(create_store_engine(url), clock=clock)
    where = describe_database(url)
    try:
        if url.get_backend_name() == "sqlite":
            state = await upgrade(store.engine)
        else:
            state = await schema_state(store.engine)
        if state.up_to_date:
            log.info("watches are kept in the %s", where)
        else:
            log.warning("watches are unavailable: in the %s, %s", where, state.describe())
    except Exception as error:  # unreachable, refused, not a database: say it once, go on
        log.warning(
            "watches are unavailable until the %s answers (%s); lookups work meanwhile",
            where,
            type(error).__name__,
        )
    try:
        yield store
    finally:
        await store.aclose()


@asynccontextmanager
async def open_service(
    settings: Settings,
    accounts: Accounts | None = None,
    *,
    poll_schedule: PollSchedule | None = None,
    store: WatchStore | None = None,
) -> AsyncGenerator[CaptureService]:
    """Open one client per account of ``settings`` and the service over them; close them after.

    Args:
        settings: the process settings.
        accounts: the accounts, when the caller already loaded them (else they are loaded).
        poll_schedule: the pauses of waits (tests shorten them).
        store: the store of watches (see :func:`open_store`); ``None``: no watches here.

    Raises:
        ConfigurationError: the accounts file names an unknown account, an unset key, ...
    """
    accounts = accounts or load_accounts(settings)
    async with AsyncExitStack() as stack:
        link = None
        if settings.redis_url is not None and not accounts.demo:
            link = RedisLink(settings.redis_url.get_secret_value())
            stack.push_async_callback(link.aclose)
        simulator: httpx.AsyncBaseTransport | None = None
        clients: dict[str, CaptureStatusClient] = {}
        for name, account in accounts.by_name.items():
            transport = None
            if account.base_url == DEMO_BASE_URL:  # the demo: the simulator, in process
                if simulator is None:
                    log.warning(demo_banner())
                    simulator = in_process_transport(demo_simulator_app())
                transport = simulator
            client = CaptureStatusClient(
                client_options(settings, base_url=account.base_url),
                account.api_key,
                transport=transport,
                link=link,
            )
            clients[name] = await stack.enter_async_context(client)
        yield CaptureService(
            accounts,
            clients,
            mask_pii=settings.lsq_mask_pii,
            poll_schedule=poll_schedule,
            store=store,
            watch_settings=watch_settings(settings),
            clock=store.clock if store is not None else time.time,
        )
