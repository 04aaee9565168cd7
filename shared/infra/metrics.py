"""Prometheus metrics of one process's client, read at scrape time.

The client already counts what it does (``ClientStats``, the cache, the budget, the
breaker, the Redis link); :class:`ClientCollector` turns those counters into Prometheus
families when ``/metrics`` is scraped, so the hot path carries no metrics code. Each front
door builds one registry in its startup with :func:`metrics_registry` and serves it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import cast

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

__all__ = ["ClientCollector", "metrics_app", "metrics_registry"]

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


def metrics_registry(clients: Mapping[str, CaptureStatusClient]) -> CollectorRegistry:
    """A registry (not the global one) holding the metrics of every account's client."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ClientCollector(clients))
    return registry


def metrics_app(clients: Mapping[str, CaptureStatusClient]) -> ASGIApp:
    """An ASGI app serving the Prometheus text format of the clients' metrics."""
    return cast("ASGIApp", make_asgi_app(registry=metrics_registry(clients)))  # pyright: ignore[reportUnknownVariableType]
