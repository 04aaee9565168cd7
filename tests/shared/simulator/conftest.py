"""Fixtures for the simulator's own tests: a fake clock, the app, an in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from shared.simulator import Simulator, SimulatorConfig, create_app

API_KEY = "test-key-7731"
STATUS_PATH = "/opportunity/status"
FALLBACK_STATUS_PATH = "/opportunity/capture/status"
METRICS_PATH = "/opportunity/capture/metrics"
CAPTURE_PATH = "/opportunity/capture"


class FakeClock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config(clock: FakeClock) -> SimulatorConfig:
    return SimulatorConfig(api_key=API_KEY, clock=clock)


@pytest.fixture
def app(config: SimulatorConfig) -> Starlette:
    return create_app(config)


@pytest.fixture
def simulator(app: Starlette) -> Simulator:
    simulator: Simulator = app.state.simulator
    return simulator


def in_process_client(app: Starlette, *, api_key: str | None = API_KEY) -> httpx.AsyncClient:
    """An httpx client talking to ``app`` in process, sending ``api_key`` when given."""
    headers = {} if api_key is None else {"x-api-key": api_key}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=headers
    )


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(app) as client:
        yield client
