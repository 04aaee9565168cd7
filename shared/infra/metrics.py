"""Prometheus metrics of one process's clients and watcher, read at scrape time.

The client already counts what it does (``ClientStats``, the cache, the budget, the
breaker, the Redis link); :class:`ClientCollector` turns those counters into Prometheus
families when ``/metrics`` is scraped, so the hot path carries no metrics code. Each front
door builds one registry in its startup with :func:`metrics_registry` and serves it.

Watches (:class:`WatchCollector`): a scrape cannot await the database, so the watcher keeps
the store's figures (active / due / overdue watches, subscribers by state) from its last
refresh (every ``WatchPolicy.counts_seconds``, 10 s) and the collector reads them, with the
watcher's own counters (checks, notifications by outcome). A front door that runs a watcher
passes it, or a function returning it once started, as ``metrics_registry(clients,
watcher=...)``. The store's figures are the same on every replica (use ``max``, not
``sum``, across them); the counters are this process's (``sum`` them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol, cast

from prometheus_client import (
    CollectorRegistry,
    make_asgi_app,  # pyright: ignore[reportUnknownVariableType]
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp

from shared.guard.breaker import BreakerState
from shared.guard.lanes import Lane
from shared.lsq.client import CaptureStatusClient

if TYPE_CHECKING:  # the records only: serving metrics loads no database driver
    from shared.store import WatchCounts

__all__ = [
    "ClientCollector",
    "WatchCollector",
    "WatchSource",
    "WatcherMetrics",
    "WatcherStatsLike",
    "metrics_app",
    "metrics_registry",
]

_PREFIX = "capture_status"


class ClientCollector(Collector):
    """Exposes the counters of each account's :class:`CaptureStatusClient`, by account."""

    def __init__(self, clients: Mapping[str, CaptureStatusClient]) -> None:
        self._clients = clients

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for account, client in self._clients.items():
            for family in self._collect_one(client):
                merged = families.setdefault(family.name, family.__class__(
                    family.name, family.documentation, labels=["account", *_labels(family)]
                ))  # fmt: skip
                for sample in family.samples:
                    if sample.name.endswith("_created"):
                        continue
                    labels = {"account": account, **sample.labels}
                    merged.samples.append(sample._replace(labels=labels))
        yield from families.values()

    def _collect_one(
        self, client: CaptureStatusClient
    ) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = client.stats
        lookups = CounterMetricFamily(
            f"{_PREFIX}_lookups", "Lookups by outcome (found, cached, or the error code).",
            labels=["outcome"],
        )  # fmt: skip
        for outcome, count in sorted(stats.lookups_by_outcome.items()):
            lookups.add_metric([outcome], count)
        yield lookups
        upstream = CounterMetricFamily(
            f"{_PREFIX}_upstream_calls", "Calls to LeadSquared by result (ok or error code).",
            labels=["result"],
        )  # fmt: skip
        for result, count in sorted(stats.upstream_by_outcome.items()):
            upstream.add_metric([result], count)
        yield upstream
        yield CounterMetricFamily(
            f"{_PREFIX}_retries", "Attempts repeated after a retryable error.", value=stats.retries
        )
        yield CounterMetricFamily(
            f"{_PREFIX}_throttles",
            "Throttles from LeadSquared (429 or an MX rate-limit body).",
            value=stats.throttles,
        )
        cache = CounterMetricFamily(
            f"{_PREFIX}_cache", "Result cache lookups by result.", labels=["result"]
        )
        cache.add_metric(["hit"], client.cache.hits - client.cache.shared_hits)
        cache.add_metric(["shared_hit"], client.cache.shared_hits)
        cache.add_metric(["miss"], client.cache.misses)
        yield cache
        yield CounterMetricFamily(
            f"{_PREFIX}_limiter_waits", "Calls that waited for the rate budget.",
            value=client.budget.waits,
        )  # fmt: skip
        yield CounterMetricFamily(
            f"{_PREFIX}_limiter_wait_seconds", "Seconds spent waiting for the rate budget.",
            value=client.budget.waited_seconds_total,
        )  # fmt: skip
        granted = CounterMetricFamily(
            f"{_PREFIX}_budget_granted", "Calls the budget scheduler handed out, by lane.",
            labels=["lane"],
        )  # fmt: skip
        for lane in Lane:
            granted.add_metric([lane.label], client.budget.granted_by_lane[lane.label])
        yield granted
        yield GaugeMetricFamily(
            f"{_PREFIX}_budget_queued", "Callers waiting for the rate budget now.",
            value=client.budget.queued,
        )  # fmt: skip
        yield CounterMetricFamily(
            f"{_PREFIX}_refreshes_from_cache",
            "Refreshes answered from the cache because the id was fetched seconds before.",
            value=stats.refreshes_from_cache,
        )
        breaker = GaugeMetricFamily(
            f"{_PREFIX}_breaker_state", "1 for the circuit breaker's current state.",
            labels=["state"],
        )  # fmt: skip
        current = client.breaker.state
        for state in BreakerState:
            breaker.add_metric([state.value], 1.0 if state is current else 0.0)
        yield breaker
        yield GaugeMetricFamily(
            f"{_PREFIX}_shared_budget",
            "1 while the rate budget is shared through Redis, 0 when local.",
            value=1.0 if client.budget.shared else 0.0,
        )


def _labels(family: CounterMetricFamily | GaugeMetricFamily) -> list[str]:
    names: list[str] = []
    for sample in family.samples:
        names.extend(name for name in sample.labels if name not in names)
    return names


class WatcherStatsLike(Protocol):
    """The counters of a watcher (``WatcherStats``), as this module reads them."""

    @property
    def checks(self) -> int: ...
    @property
    def check_failures(self) -> int: ...
    @property
    def lost_leases(self) -> int: ...
    @property
    def ended(self) -> int: ...
    @property
    def notices_sent(self) -> int: ...
    @property
    def notices_failed(self) -> int: ...
    @property
    def notices_retried(self) -> int: ...
    @property
    def store_failures(self) -> int: ...


class WatcherMetrics(Protocol):
    """What :class:`WatchCollector` reads of a watcher (``shared.Watcher`` is one)."""

    @property
    def counts(self) -> WatchCounts | None:
        """The store's figures as of the watcher's last refresh (``None``: not known)."""
        ...

    @property
    def stats(self) -> WatcherStatsLike:
        """What this watcher did since it started."""
        ...

    @property
    def store_up(self) -> bool:
        """False while the store does not answer the watcher."""
        ...


#: a watcher, or a function returning the watcher once it runs (``None`` before, or when
#: the process keeps no watches)
WatchSource = WatcherMetrics | Callable[[], WatcherMetrics | None]


class WatchCollector(Collector):
    """Exposes the watches of the store and the work of this process's watcher."""

    def __init__(self, source: WatchSource) -> None:
        self._source = source

    def _watcher(self) -> WatcherMetrics | None:
        source = self._source
        return source() if callable(source) else source

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        watcher = self._watcher()
        if watcher is None:
            return
        yield GaugeMetricFamily(
            f"{_PREFIX}_watch_store_up",
            "1 while the database of watches answers this process's watcher, else 0.",
            value=1.0 if watcher.store_up else 0.0,
        )
        counts = watcher.counts
        if counts is not None:
            watches = GaugeMetricFamily(
                f"{_PREFIX}_watches",
                "Watches in the store: active (being checked), due (their check time has "
                "come), overdue (due for longer than the overdue margin: nobody checks them).",
                labels=["state"],
            )
            watches.add_metric(["active"], counts.active)
            watches.add_metric(["due"], counts.due)
            watches.add_metric(["overdue"], counts.overdue)
            yield watches
            subscribers = GaugeMetricFamily(
                f"{_PREFIX}_watch_subscribers",
                "Subscribers in the store by state (waiting, due, sending, sent, failed, stopped).",
                labels=["state"],
            )
            for state, count in sorted(counts.subscribers.items()):
                subscribers.add_metric([state], count)
            yield subscribers
        stats = watcher.stats
        checks = CounterMetricFamily(
            f"{_PREFIX}_watch_checks", "Checks of watched requests by this process, by result.",
            labels=["result"],
        )  # fmt: skip
        checks.add_metric(["ok"], stats.checks)
        checks.add_metric(["failed"], stats.check_failures)
        yield checks
        notifications = CounterMetricFamily(
            f"{_PREFIX}_watch_notifications",
            "Notices of ended watches this process delivered, by outcome (sent; failed for "
            "good; retry: to be tried again).",
            labels=["outcome"],
        )
        notifications.add_metric(["sent"], stats.notices_sent)
        notifications.add_metric(["failed"], stats.notices_failed)
        notifications.add_metric(["retry"], stats.notices_retried)
        yield notifications
        yield CounterMetricFamily(
            f"{_PREFIX}_watches_ended", "Watches this process ended (final, expired, failed).",
            value=stats.ended,
        )  # fmt: skip
        yield CounterMetricFamily(
            f"{_PREFIX}_watch_lost_leases",
            "Checks whose result was not written: another replica had taken the watch over.",
            value=stats.lost_leases,
        )
        yield CounterMetricFamily(
            f"{_PREFIX}_watch_store_failures", "Watcher steps the database of watches failed.",
            value=stats.store_failures,
        )  # fmt: skip


def metrics_registry(
    clients: Mapping[str, CaptureStatusClient], *, watcher: WatchSource | None = None
) -> CollectorRegistry:
    """A registry (not the global one) holding the metrics of every account's client.

    Args:
        clients: each account's client.
        watcher: the process's watcher, or a function returning it once it runs (e.g.
            ``lambda: app.watcher``); its watch figures are added (nothing without it).
    """
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ClientCollector(clients))
    if watcher is not None:
        registry.register(WatchCollector(watcher))
    return registry


def metrics_app(
    clients: Mapping[str, CaptureStatusClient], *, watcher: WatchSource | None = None
) -> ASGIApp:
    """An ASGI app serving the Prometheus text format of the clients' (and watcher's) metrics."""
    registry = metrics_registry(clients, watcher=watcher)
    return cast("ASGIApp", make_asgi_app(registry=registry))  # pyright: ignore[reportUnknownVariableType]
