"""Prometheus metrics read the clients' own counters, and the watcher's figures, at scrape time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client import (
    CollectorRegistry,
    make_asgi_app,  # pyright: ignore[reportUnknownVariableType]
)
from pydantic import SecretStr

from shared.accounts import Account, Accounts
from shared.errors import RequestNotFoundError
from shared.infra.metrics import metrics_app, metrics_registry
from shared.service.capture_service import CaptureService
from shared.service.watch_views import DeliveryResult, WatchNotice
from shared.service.watcher import Watcher, WatcherStats
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Fault, FaultKind, Simulator
from shared.store import NewSubscriber, WatchCounts, WatchKey
from tests.conftest import SIM_KEY, ClientFactory, FakeClock
from tests.databases import open_test_store


def _value(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in metrics:\n{text}")


async def test_lookups_upstream_calls_retries_cache_and_breaker_are_exposed(
    make_client: ClientFactory, sim: Simulator
) -> None:
    client = make_client(retry_attempts=2)
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=1))
    created = SAMPLES["created"].request_id
    await client.get_status(created)
    await client.get_status(created)
    with pytest.raises(RequestNotFoundError):
        await client.get_status(UNKNOWN_REQUEST_ID)

    app = metrics_app({"default": client})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as http:
        response = await http.get("/")
    text = response.text
    assert response.status_code == 200
    assert _value(text, 'capture_status_lookups_total{account="default",outcome="found"}') == 1
    assert _value(text, 'capture_status_lookups_total{account="default",outcome="cached"}') == 1
    assert _value(text, 'capture_status_lookups_total{account="default",outcome="not_found"}') == 1
    server_errors = 'capture_status_upstream_calls_total{account="default",result="server_error"}'
    assert _value(text, server_errors) == 1
    assert _value(text, 'capture_status_upstream_calls_total{account="default",result="ok"}') == 1
    assert _value(text, 'capture_status_retries_total{account="default"}') == 1
    assert _value(text, 'capture_status_cache_total{account="default",result="hit"}') == 1
    assert _value(text, 'capture_status_breaker_state{account="default",state="closed"}') == 1
    assert _value(text, 'capture_status_shared_budget{account="default"}') == 0
    # three calls went out (the 503, its retry, the unknown id), all for an unnamed caller
    granted = 'capture_status_budget_granted_total{account="default",lane="interactive"}'
    assert _value(text, granted) == 3
    assert _value(text, 'capture_status_budget_granted_total{account="default",lane="bulk"}') == 0
    assert _value(text, 'capture_status_budget_queued{account="default"}') == 0


def test_each_client_gets_its_own_registry(make_client: ClientFactory) -> None:
    first, second = make_client(), make_client()
    assert metrics_registry({"a": first}) is not metrics_registry({"a": second})


# --- watches --------------------------------------------------------------------------------


async def _scrape(registry: CollectorRegistry) -> str:
    app = make_asgi_app(registry=registry)  # pyright: ignore[reportUnknownVariableType]
    transport = httpx.ASGITransport(app=app)  # pyright: ignore[reportUnknownArgumentType]
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as http:
        response = await http.get("/")
    assert response.status_code == 200
    return response.text


@dataclass
class _Figures:
    """Something that reads like a watcher to the collector."""

    counts: WatchCounts | None = None
    stats: WatcherStats = field(default_factory=WatcherStats)
    store_up: bool = True


async def test_the_watch_figures_come_from_the_watchers_last_refresh_and_its_counters(
    make_client: ClientFactory,
) -> None:
    figures = _Figures(
        counts=WatchCounts(active=7, due=3, overdue=1, subscribers={"waiting": 9, "sent": 4}),
        stats=WatcherStats(checks=12, check_failures=2, notices_sent=4, notices_retried=1),
    )
    text = await _scrape(metrics_registry({"default": make_client()}, watcher=figures))
    assert _value(text, 'capture_status_watches{state="active"}') == 7
    assert _value(text, 'capture_status_watches{state="due"}') == 3
    assert _value(text, 'capture_status_watches{state="overdue"}') == 1
    assert _value(text, 'capture_status_watch_subscribers{state="waiting"}') == 9
    assert _value(text, 'capture_status_watch_notifications_total{outcome="sent"}') == 4
    assert _value(text, 'capture_status_watch_notifications_total{outcome="failed"}') == 0
    assert _value(text, 'capture_status_watch_notifications_total{outcome="retry"}') == 1
    assert _value(text, 'capture_status_watch_checks_total{result="ok"}') == 12
    assert _value(text, 'capture_status_watch_checks_total{result="failed"}') == 2
    assert _value(text, "capture_status_watch_store_up") == 1
    assert "capture_status_lookups_total" in text  # the clients' figures are still there

    figures.counts, figures.store_up = None, False  # the store went down: counts unknown
    down = await _scrape(metrics_registry({"default": make_client()}, watcher=figures))
    assert _value(down, "capture_status_watch_store_up") == 0
    assert "capture_status_watches{" not in down


async def test_a_watcher_not_started_yet_adds_nothing_and_the_old_signature_still_works(
    make_client: ClientFactory,
) -> None:
    started: list[_Figures] = []
    later = await _scrape(
        metrics_registry(
            {"default": make_client()}, watcher=lambda: started[0] if started else None
        )
    )
    plain = await _scrape(metrics_registry({"default": make_client()}))
    for text in (later, plain):
        assert "capture_status_watch" not in text
        assert "capture_status_lookups_total" in text
    started.append(_Figures(counts=WatchCounts(active=1, due=0, overdue=0, subscribers={})))
    now = await _scrape(
        metrics_registry(
            {"default": make_client()}, watcher=lambda: started[0] if started else None
        )
    )
    assert _value(now, 'capture_status_watches{state="active"}') == 1


async def test_a_real_watcher_refreshes_the_stores_figures_as_it_works(
    make_client: ClientFactory, database_url: str
) -> None:
    clock = FakeClock()
    client = make_client()
    accounts = Accounts(
        by_name={
            "default": Account(name="default", base_url="http://sim", api_key=SecretStr(SIM_KEY))
        },
        default="default",
    )
    told: list[str] = []

    class Notices:
        async def deliver(self, notice: WatchNotice) -> DeliveryResult:
            told.append(notice.request_id)
            return DeliveryResult("sent")

    async with open_test_store(database_url, clock=clock) as store:
        service = CaptureService(accounts, {"default": client}, store=store, clock=clock)
        watcher = Watcher(service, store, notifiers={"test": Notices()}, clock=clock)
        registry = metrics_registry({"default": client}, watcher=watcher)
        unknown = [str(uuid.uuid4()) for _ in range(2)]  # the simulator knows neither
        for rid, due_in in [(unknown[0], -120.0), (unknown[1], -1.0), (str(uuid.uuid4()), 600.0)]:
            await store.add(
                WatchKey("default", "opportunity_capture", rid),
                NewSubscriber(kind="test", principal="test:1", scope="test", target_key=rid),
                status="In-Queue",
                next_check_at=clock() + due_in,
                expires_at=clock() + 3600,
            )
        assert "capture_status_watches{" not in await _scrape(registry)  # no refresh yet
        await watcher.refresh_counts()
        before = await _scrape(registry)
        assert _value(before, 'capture_status_watches{state="active"}') == 3
        assert _value(before, 'capture_status_watches{state="due"}') == 2
        assert _value(before, 'capture_status_watches{state="overdue"}') == 1
        assert _value(before, 'capture_status_watch_subscribers{state="waiting"}') == 3

        clock.advance(watcher.policy.counts_seconds)  # the figures are refreshed this often
        await watcher.step()  # checks both due ids (unknown: they end), tells, refreshes
        while await watcher.step():  # the notices of the ended watches (no sleeping)
            pass
        after = await _scrape(registry)
    assert sorted(told) == sorted(unknown)
    assert _value(after, 'capture_status_watches{state="active"}') == 1
    assert _value(after, 'capture_status_watches{state="due"}') == 0
    assert _value(after, 'capture_status_watch_checks_total{result="failed"}') == 2
    assert _value(after, 'capture_status_watch_notifications_total{outcome="sent"}') == 2
    assert _value(after, "capture_status_watches_ended_total") == 2
