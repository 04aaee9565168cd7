"""Running the watcher on an accelerated clock: minutes of watching in seconds.

The watch benchmarks follow requests that take minutes (or hours) to finish. Every clock the
code lets a caller inject runs ``speed`` times faster than real time: the simulator's (its
queue and its 25-per-5-s window), the store's and the watcher's (``Watcher(clock=...,
speed=...)``, ``CaptureService(clock=...)``, ``WatchStore(clock=...)``). What runs on real
time is scaled instead, by the same factor: the client's budget window (the budget counts on
real time: ``budget_seconds`` and its guard divided by ``speed``), its deadline, backoff,
cooldown, cache and refresh-floor times. Network timeouts stay real (loopback answers in
about a millisecond, a hundredth of a simulated second at 10x).

So at ``speed`` 10 LeadSquared's 25 calls per 5 s are 25 per 5 simulated seconds, which is
25 per half a real second, and the capture-status budget keeps its 23 per 5 simulated
seconds. Figures are reported in simulated seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from pydantic import SecretStr

from shared import defaults
from shared.accounts import Account, Accounts
from shared.guard.cache import CacheTtls
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.service.capture_service import CaptureService
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import DeliveryResult, WatchNotice
from shared.service.watching import WatchSettings
from shared.store import WatchLimits, WatchStore

__all__ = [
    "AcceleratedClock",
    "RecordingNotifier",
    "scaled_client_options",
    "watch_service",
]


@dataclass(frozen=True, slots=True)
class AcceleratedClock:
    """Epoch-like seconds that run ``speed`` times faster than real time.

    ``origin`` is the simulated time at the real moment ``real_origin`` (``time.time()``,
    so that several processes given the same three numbers read the same clock).
    """

    speed: float
    origin: float
    real_origin: float

    @classmethod
    def starting_now(cls, speed: float) -> AcceleratedClock:
        """A clock that reads the real time now and then runs ``speed`` times faster."""
        now = time.time()
        return cls(speed=speed, origin=now, real_origin=now)

    def __call__(self) -> float:
        return self.origin + (time.time() - self.real_origin) * self.speed

    def real_seconds(self, simulated: float) -> float:
        """How many real seconds ``simulated`` seconds of this clock take."""
        return simulated / self.speed


def scaled_client_options(base_url: str, speed: float, **overrides: object) -> ClientOptions:
    """The default client options with every real-time figure divided by ``speed``."""
    values: dict[str, object] = {
        "base_url": base_url,
        "budget_seconds": defaults.RATE_LIMIT_SECONDS / speed,
        "deadline_seconds": defaults.LOOKUP_DEADLINE_SECONDS / speed,
        "backoff_initial_seconds": 0.5 / speed,
        "backoff_max_seconds": 5.0 / speed,
        "backoff_jitter_seconds": 0.5 / speed,
        "breaker_open_seconds": defaults.BREAKER_OPEN_SECONDS / speed,
        "cache_ttls": CacheTtls(
            final=defaults.CACHE_FINAL_TTL_SECONDS / speed,
            error_status=defaults.CACHE_ERROR_STATUS_TTL_SECONDS / speed,
            pending=defaults.CACHE_PENDING_TTL_SECONDS / speed,
        ),
        "metrics_ttl_seconds": defaults.METRICS_TTL_SECONDS / speed,
        "refresh_floor_seconds": defaults.REFRESH_FLOOR_SECONDS / speed,
    }
    values.update(overrides)
    return ClientOptions(**values)  # pyright: ignore[reportArgumentType]


def watch_service(
    base_url: str,
    api_key: str,
    *,
    store: WatchStore,
    clock: AcceleratedClock,
    policy: WatchPolicy | None = None,
    **options: object,
) -> CaptureService:
    """A service of one account (``default``) at ``base_url``, watching into ``store``.

    No limit on watches per person or workspace: the benchmarks' subscribers are not people.
    Close its client afterwards (``service.client().aclose()``).
    """
    client = CaptureStatusClient(
        scaled_client_options(base_url, clock.speed, **options), SecretStr(api_key)
    )
    account = Account(name="default", base_url=base_url, api_key=SecretStr(api_key))
    return CaptureService(
        Accounts(by_name={"default": account}, default="default"),
        {"default": client},
        store=store,
        watch_settings=WatchSettings(policy=policy or WatchPolicy(), limits=WatchLimits()),
        clock=clock,
        speed=clock.speed,
    )


@dataclass
class RecordingNotifier:
    """A notifier that only notes when each notice came (simulated seconds), in memory."""

    clock: AcceleratedClock
    delivered: dict[str, list[float]] = field(default_factory=dict[str, list[float]])
    #: set at every notice (whoever waits for notices clears it)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        """Note the notice's arrival; always ``sent``."""
        self.delivered.setdefault(notice.request_id, []).append(self.clock())
        self.arrived.set()
        return DeliveryResult("sent")

    async def wait_for(self, request_ids: Collection[str], *, until: float) -> bool:
        """Wait until every one of ``request_ids`` was told, or the clock reads ``until``."""
        while not all(rid in self.delivered for rid in request_ids):
            left = self.clock.real_seconds(until - self.clock())
            if left <= 0:
                return False
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), timeout=left)
        return True
