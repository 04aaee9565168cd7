"""Servers whose core keeps watches in a real store, and whose watcher the test steps.

The simulator and the store share one :class:`FakeClock`: a test submits a capture, moves
the clock past the simulator's processing time (the capture is final) and past the watch's
next check, then calls :meth:`SteppedWatchers.step` to make the watcher check it and
deliver what it has to. Nothing runs the watcher in the background, so every check is one
the test asked for.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client, MCPDeprecationWarning
from pydantic import SecretStr
from starlette.applications import Starlette

from mcp_server.server import CaptureServer, build_server
from shared import Account, Accounts, CaptureService, Notifier, Settings, WatchCheck, Watcher
from shared.guard.cache import CacheTtls
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.store import (
    WatchKey,
    WatchRecord,
    WatchStore,
    async_database_url,
    create_store_engine,
)
from tests.conftest import SIM_KEY, FakeClock, fast_options
from tests.databases import open_test_store
from tests.mcp_server.conftest import FAST_SCHEDULE, Opener, make_settings

__all__ = [
    "NOBODY_ANSWERS",
    "ObservedService",
    "SteppedWatchers",
    "migrated",
    "request_uri",
    "subscribe",
    "unreachable_store",
    "unsubscribe",
    "watch_of",
    "watched_opener",
    "watched_server",
]


#: a database nobody answers on (a closed loopback port)
NOBODY_ANSWERS = "postgresql://postgres@127.0.0.1:9/watches"


def request_uri(request_id: str) -> str:
    """The resource of one capture request."""
    return f"capture://requests/{request_id}"


async def subscribe(client: Client, uri: str) -> None:
    """``resources/subscribe`` (the SDK marks the 2025 era's methods deprecated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.subscribe_resource(uri)  # pyright: ignore[reportDeprecated]


async def unsubscribe(client: Client, uri: str) -> None:
    """``resources/unsubscribe``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.unsubscribe_resource(uri)  # pyright: ignore[reportDeprecated]


class ObservedService(CaptureService):
    """The real service, saying when a watch was stopped (streams end after their client)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: (target_key, subscriptions stopped) of every unwatch, in order
        self.unwatched: asyncio.Queue[tuple[str | None, int]] = asyncio.Queue()

    async def unwatch(
        self,
        query: str | None,
        *,
        principal: str,
        subscriber_id: int | None = None,
        kind: str | None = None,
        target_key: str | None = None,
    ) -> int:
        stopped = await super().unwatch(
            query,
            principal=principal,
            subscriber_id=subscriber_id,
            kind=kind,
            target_key=target_key,
        )
        self.unwatched.put_nowait((target_key, stopped))
        return stopped

    async def next_unwatch(self, within: float = 10.0) -> tuple[str | None, int]:
        """The next unwatch made (waiting at most ``within`` seconds for it)."""
        async with asyncio.timeout(within):
            return await self.unwatched.get()


async def watch_of(service: CaptureService, request_id: str) -> WatchRecord | None:
    """The active watch of ``request_id`` (default account), if any."""
    assert service.store is not None
    return await service.store.watch_of(WatchKey("default", "opportunity_capture", request_id))


@asynccontextmanager
async def _store(url: str, clock: FakeClock, *, migrate: bool) -> AsyncGenerator[WatchStore]:
    if migrate:
        async with open_test_store(url, clock=clock) as store:
            yield store
        return
    store = WatchStore(create_store_engine(async_database_url(url)), clock=clock)
    try:
        yield store
    finally:
        await store.aclose()


def watched_opener(url: str, app: Starlette, clock: FakeClock, *, migrate: bool = True) -> Opener:
    """Opens a service on the simulator ``app`` with the store at ``url``, both on ``clock``
    (``migrate``: bring the database's schema up to date first, as one replica may)."""

    @asynccontextmanager
    async def open_service(settings: Settings) -> AsyncGenerator[CaptureService]:
        async with _store(url, clock, migrate=migrate) as store:
            client = CaptureStatusClient(
                fast_options(cache_ttls=CacheTtls(pending=0.0)),
                SecretStr(SIM_KEY),
                transport=in_process_transport(app),
            )
            account = Account(
                name="default", base_url=client.options.base_url, api_key=SecretStr("")
            )
            async with client:
                yield ObservedService(
                    Accounts(by_name={"default": account}, default="default"),
                    {"default": client},
                    mask_pii=settings.lsq_mask_pii,
                    poll_schedule=FAST_SCHEDULE,
                    store=store,
                    clock=clock,
                )

    return open_service


async def migrated(url: str) -> None:
    """Bring the database at ``url`` to this version's schema (the one-shot step of a
    deployment, before its replicas start)."""
    async with open_test_store(url):
        pass


class SteppedWatchers:
    """A watcher runner (``build_server(watcher_runner=...)``) that never runs by itself."""

    def __init__(self) -> None:
        self.watchers: list[Watcher] = []
        self.started = asyncio.Event()

    @asynccontextmanager
    async def __call__(
        self,
        service: CaptureService,
        *,
        notifiers: Mapping[str, Notifier] | None = None,
        on_check: Callable[[WatchCheck], Awaitable[None]] | None = None,
    ) -> AsyncGenerator[Watcher | None]:
        assert service.store is not None
        watcher = Watcher(
            service,
            service.store,
            notifiers=notifiers,
            on_check=on_check,
            clock=service.store.clock,
        )
        self.watchers.append(watcher)
        self.started.set()
        yield watcher

    @property
    def watcher(self) -> Watcher:
        """The watcher of the server's core (open it first: any call or stream does)."""
        assert self.watchers, "the server's core is not open yet"
        return self.watchers[-1]

    @property
    def service(self) -> ObservedService:
        """The service of the server's core."""
        service = self.watcher.service
        assert isinstance(service, ObservedService)
        return service

    async def step(self) -> int:
        """Check the due watches once and deliver the due notices; how many of each."""
        return await self.watcher.step()


def watched_server(
    url: str,
    app: Starlette,
    clock: FakeClock,
    watchers: SteppedWatchers,
    settings: Settings | None = None,
    migrate: bool = True,
    **overrides: Any,
) -> CaptureServer:
    """A server on the simulator ``app`` whose watches are kept at ``url`` (replicas sharing
    a database pass ``migrate=False``, once it was migrated: see :func:`migrated`)."""
    return build_server(
        settings or make_settings(**overrides),
        service_opener=watched_opener(url, app, clock, migrate=migrate),
        poll_schedule=FAST_SCHEDULE,
        watcher_runner=watchers,
    )


def unreachable_store(app: Starlette, clock: FakeClock) -> Opener:
    """Opens a service on the simulator ``app`` whose store of watches never answers."""

    @asynccontextmanager
    async def open_service(settings: Settings) -> AsyncGenerator[CaptureService]:
        store = WatchStore(create_store_engine(async_database_url(NOBODY_ANSWERS)), clock=clock)
        client = CaptureStatusClient(
            fast_options(cache_ttls=CacheTtls(pending=0.0)),
            SecretStr(SIM_KEY),
            transport=in_process_transport(app),
        )
        account = Account(name="default", base_url=client.options.base_url, api_key=SecretStr(""))
        try:
            async with client:
                yield CaptureService(
                    Accounts(by_name={"default": account}, default="default"),
                    {"default": client},
                    poll_schedule=FAST_SCHEDULE,
                    store=store,
                    clock=clock,
                )
        finally:
            await store.aclose()

    return open_service
