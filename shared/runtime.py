"""Turning :class:`Settings` into a ready client, for entry points.

Entry points (CLI, Slack app, MCP server) call :func:`open_client` once at startup. Without
LeadSquared credentials the client talks to the built-in simulator in process, and
:func:`demo_banner` says so loudly.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from pydantic import SecretStr

from shared.guard.cache import CacheTtls
from shared.guard.redis_link import RedisLink
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.lsq.upstream import UpstreamTimeouts, in_process_transport
from shared.settings import Settings

__all__ = ["DEMO_BASE_URL", "client_options", "demo_banner", "open_client"]

log = logging.getLogger(__name__)

#: the base URL the in-process simulator answers on (never resolved on a network)
DEMO_BASE_URL = "http://simulator.demo"


def client_options(settings: Settings, *, base_url: str | None = None) -> ClientOptions:
    """The client options that ``settings`` describe."""
    return ClientOptions(
        base_url=base_url or settings.async_base_url,
        status_path=settings.lsq_status_path,
        fallback_status_path=settings.lsq_status_fallback_path,
        metrics_path=settings.lsq_metrics_path,
        budget_calls=settings.rate_budget_calls,
        budget_seconds=settings.lsq_rate_limit_seconds,
        budget_guard_seconds=settings.lsq_rate_window_guard_seconds,
        timeouts=UpstreamTimeouts(
            connect=settings.lsq_connect_timeout_seconds, read=settings.lsq_read_timeout_seconds
        ),
        deadline_seconds=settings.lsq_lookup_deadline_seconds,
        retry_attempts=settings.lsq_retry_attempts,
        throttle_cooldown_seconds=settings.lsq_throttle_cooldown_seconds,
        max_concurrency=settings.lsq_max_concurrency,
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
        "DEMO MODE: no LSQ_API_KEY is set, so capture-status answers from its built-in "
        "LeadSquared simulator. Nothing here is real data. Set LSQ_API_KEY and LSQ_REGION "
        "(or LSQ_ASYNC_BASE_URL) to look up real capture requests."
    )


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncGenerator[CaptureStatusClient]:
    """Create the process's one client from ``settings`` and close it afterwards.

    Without ``LSQ_API_KEY`` the client talks to an in-process simulator (a demo).
    """
    link: RedisLink | None = None
    if settings.lsq_api_key is None:
        # Imported here: only the demo needs the simulator.
        from shared.simulator import SimulatorConfig, create_app

        config = SimulatorConfig()
        log.warning(demo_banner())
        client = CaptureStatusClient(
            client_options(settings, base_url=DEMO_BASE_URL),
            SecretStr(config.api_key),
            transport=in_process_transport(create_app(config)),
        )
    else:
        link = (
            RedisLink(settings.redis_url.get_secret_value())
            if settings.redis_url is not None
            else None
        )
        client = CaptureStatusClient(client_options(settings), settings.lsq_api_key, link=link)
    try:
        async with client:
            yield client
    finally:
        if link is not None:
            await link.aclose()
