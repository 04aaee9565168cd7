"""Fixtures shared by every test: the simulator (the one fake of LeadSquared) and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from shared.guard.cache import CacheTtls
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.lsq.upstream import in_process_transport
from shared.simulator import Simulator, SimulatorConfig, create_app

SIM_KEY = "sim-test-key-4821"
FAST_RETRIES: dict[str, Any] = {
    "backoff_initial_seconds": 0.01,
    "backoff_max_seconds": 0.05,
    "backoff_jitter_seconds": 0.01,
}


class FakeClock:
    """A monotonic clock that only moves when a test moves it."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fast_options(base_url: str = "http://sim", **overrides: Any) -> ClientOptions:
    """Client options that keep tests quick: tiny backoff, a short deadline.

    The circuit breaker is set out of reach so that tests of other behaviours, which make
    many failing calls on purpose, do not trip it; its own tests set a threshold.
    """
    values: dict[str, Any] = {
        "base_url": base_url,
        "deadline_seconds": 10.0,
        "breaker_failure_threshold": 1_000,
        **FAST_RETRIES,
    }
    values.update(overrides)
    return ClientOptions(**values)


@pytest.fixture
def sim_app() -> Starlette:
    return create_app(SimulatorConfig(api_key=SIM_KEY))


@pytest.fixture
def sim(sim_app: Starlette) -> Simulator:
    simulator: Simulator = sim_app.state.simulator
    return simulator


ClientFactory = Callable[..., CaptureStatusClient]


@pytest.fixture
async def make_client(sim_app: Starlette) -> AsyncIterator[ClientFactory]:
    """Build in-process clients of the simulator; every one is closed after the test."""
    made: list[CaptureStatusClient] = []

    def factory(
        *, app: Starlette | None = None, api_key: str = SIM_KEY, **overrides: Any
    ) -> CaptureStatusClient:
        client = CaptureStatusClient(
            fast_options(**overrides),
            SecretStr(api_key),
            transport=in_process_transport(app or sim_app),
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


__all__ = ["SIM_KEY", "CacheTtls", "ClientFactory", "FakeClock", "fast_options"]


# --- databases (the store's tests run on SQLite and on a real PostgreSQL) -------------------

from tests.databases import BACKENDS, postgres_admin_url, test_database_url  # noqa: E402


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """A fresh database URL: once on SQLite, once on PostgreSQL (each test runs on both)."""
    backend: str = request.param
    admin = request.getfixturevalue("postgres_admin_url") if backend == "postgresql" else None
    async with test_database_url(backend, admin, tmp_path) as url:
        yield url


__all__ += ["postgres_admin_url"]
