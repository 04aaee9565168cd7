"""Fixtures of the MCP server tests: a server on the in-process simulator, and MCP clients.

The simulator's clock is a :class:`FakeClock` here, so a test decides when a submitted
capture leaves the queue; everything else runs in real time with tiny waits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import SecretStr
from starlette.applications import Starlette

from mcp_server.server import build_server
from mcp_server.state import ServerState
from shared.guard.cache import CacheTtls
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.service.waiting import PollSchedule
from shared.settings import Settings
from shared.simulator import SimulatorConfig, create_app
from tests.conftest import SIM_KEY, FakeClock, fast_options

#: the bearer token the HTTP tests use
TOKEN = "test-token-0123456789abcdef"
#: how long a submitted capture stays In-Queue, by the simulator's fake clock
PROCESSING_SECONDS = 30.0
#: pauses of wait_for_capture in tests: tiny, but still above the client's budget floor
FAST_SCHEDULE = PollSchedule(
    first_seconds=0.01, max_seconds=0.05, budget_share=1.0, last_check_seconds=0.05
)


def capture_body(n: int = 0) -> dict[str, Any]:
    """A valid Capture Opportunities body (a new opportunity for lead ``n``)."""
    return {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": f"mcp{n}@example.com"},
            {"Attribute": "SearchBy", "Value": "EmailAddress"},
        ],
        "Opportunity": {
            "OpportunityEventCode": 12000,
            "Fields": [{"SchemaName": "mx_Custom_1", "Value": f"Deal {n}"}],
        },
    }


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests build their own Settings; the developer's environment must not leak in.

    A server whose core opens its own store (the default opener) keeps it in the test's
    folder, never in the working directory.
    """
    import os

    for name in list(os.environ):
        if name.upper().startswith(("LSQ_", "MCP_", "SLACK_", "REDIS_", "DATABASE_", "WATCH")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'watches.db'}")


def make_settings(**overrides: Any) -> Settings:
    """Settings as an entry point would load them, without reading any .env file."""
    values: dict[str, Any] = {
        "lsq_api_key": SecretStr(SIM_KEY),
        "lsq_async_base_url": "https://sim",
        "mcp_auth_tokens": (SecretStr(TOKEN),),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # pyright: ignore[reportCallIssue]


@pytest.fixture
def sim_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_app(sim_clock: FakeClock) -> Starlette:
    """The simulator (overrides the root fixture): captures leave the queue by a fake clock."""
    return create_app(
        SimulatorConfig(api_key=SIM_KEY, clock=sim_clock, processing_seconds=PROCESSING_SECONDS)
    )


@dataclass
class ClientOpenings:
    """Counts how often the server opened and closed its client."""

    opened: int = 0
    closed: int = 0
    clients: list[CaptureStatusClient] = field(default_factory=list[CaptureStatusClient])


class _CountedService:
    """Opens a service over one simulator client, counting openings and closings."""

    def __init__(
        self, client: CaptureStatusClient, openings: ClientOpenings, settings: Settings
    ) -> None:
        self._client = client
        self._openings = openings
        self._settings = settings

    async def __aenter__(self) -> CaptureService:
        self._openings.opened += 1
        self._openings.clients.append(self._client)
        await self._client.__aenter__()
        return CaptureService.for_client(
            self._client,
            app_base_url=self._settings.lsq_app_base_url,
            mask_pii=self._settings.lsq_mask_pii,
            poll_schedule=FAST_SCHEDULE,
        )

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._client.__aexit__(*exc_info)
        self._openings.closed += 1


Opener = Callable[[Settings], AbstractAsyncContextManager[CaptureService]]


def service_of(
    open_client: Callable[[Settings], AbstractAsyncContextManager[CaptureStatusClient]],
) -> Opener:
    """A service opener over the clients ``open_client`` opens (one account, ``default``)."""

    @asynccontextmanager
    async def open_service(settings: Settings) -> AsyncGenerator[CaptureService]:
        async with open_client(settings) as client:
            yield CaptureService.for_client(client, poll_schedule=FAST_SCHEDULE)

    return open_service


def simulator_opener(
    app: Starlette, openings: ClientOpenings, *, api_key: str = SIM_KEY, **options: Any
) -> Opener:
    """Opens clients of the in-process simulator ``app`` (fast retries, no In-Queue cache)."""

    def open_service(settings: Settings) -> AbstractAsyncContextManager[CaptureService]:
        values: dict[str, Any] = {"cache_ttls": CacheTtls(pending=0.0)}
        values.update(options)
        client = CaptureStatusClient(
            fast_options(**values), SecretStr(api_key), transport=in_process_transport(app)
        )
        return _CountedService(client, openings, settings)

    return open_service


@pytest.fixture
def openings() -> ClientOpenings:
    return ClientOpenings()


ServerFactory = Callable[..., MCPServer[ServerState]]


@pytest.fixture
def make_server(sim_app: Starlette, openings: ClientOpenings) -> ServerFactory:
    """Build servers on the simulator: ``make_server(settings=..., app=..., **client_options)``."""

    def factory(
        *,
        settings: Settings | None = None,
        app: Starlette | None = None,
        api_key: str = SIM_KEY,
        **client_options: Any,
    ) -> MCPServer[ServerState]:
        return build_server(
            settings or make_settings(),
            service_opener=simulator_opener(
                app or sim_app, openings, api_key=api_key, **client_options
            ),
            poll_schedule=FAST_SCHEDULE,
        )

    return factory


@pytest.fixture
def server(make_server: ServerFactory) -> MCPServer[ServerState]:
    return make_server()


@pytest.fixture(params=["auto", "legacy"], ids=["2026-sessionless", "legacy-handshake"])
def era(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: the 2026-07-28 sessionless one and the 2025 handshake."""
    mode: str = request.param
    return mode


@asynccontextmanager
async def held_in_a_task(client: Client) -> AsyncGenerator[Client]:
    """Enter ``client`` in a task of its own for the ``async with``.

    pytest-asyncio runs a fixture's setup and teardown in different tasks, while the MCP
    client's task group must be entered and left by the same task: a helper task does both.
    """
    entered = asyncio.Event()
    leave = asyncio.Event()

    async def hold() -> None:
        async with client:
            entered.set()
            await leave.wait()

    task = asyncio.create_task(hold())
    entering = asyncio.create_task(entered.wait())
    await asyncio.wait({task, entering}, return_when=asyncio.FIRST_COMPLETED)
    entering.cancel()
    if task.done():
        await task  # entering failed: raise why
    try:
        yield client
    finally:
        leave.set()
        await task


@pytest.fixture
async def mcp_client(server: MCPServer[ServerState], era: str) -> AsyncIterator[Client]:
    """An in-memory MCP client of ``server``, in each protocol era."""
    async with held_in_a_task(Client(server, mode=era)) as client:
        yield client


class Progress:
    """Collects a call's progress notifications; ``reached(n)`` is set after the n-th."""

    def __init__(self) -> None:
        self.notes: list[tuple[float, float | None, str | None]] = []
        self._reached: dict[int, asyncio.Event] = {}

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.notes.append((progress, total, message))
        for count, event in self._reached.items():
            if len(self.notes) >= count:
                event.set()

    def reached(self, count: int) -> asyncio.Event:
        event = self._reached.setdefault(count, asyncio.Event())
        if len(self.notes) >= count:
            event.set()
        return event


def text_of(result: CallToolResult) -> str:
    """The text of a tool result's (single) text block."""
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful tool result, checked against its text twin."""
    assert not result.is_error, text_of(result)
    content = result.structured_content
    assert content is not None
    assert json.loads(text_of(result)) == content
    return content


__all__ = [
    "FAST_SCHEDULE",
    "PROCESSING_SECONDS",
    "TOKEN",
    "ClientOpenings",
    "Opener",
    "Progress",
    "ServerFactory",
    "capture_body",
    "held_in_a_task",
    "make_settings",
    "simulator_opener",
    "structured",
    "text_of",
]
