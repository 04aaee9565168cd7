"""Who asks: every lookup carries its caller, and one caller's waits are capped.

The principal is ``mcp:stdio`` in process (as over stdio) and ``mcp:<token name>`` over HTTP
(``token-1`` is the first token of ``MCP_AUTH_TOKENS``). Tools answer at the interactive
lane; a triage takes the bulk lane. The service's calls are recorded on the way in, through
a real server, a real MCP client and the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from mcp_server.http_app import build_http_app
from mcp_server.server import build_server
from mcp_server.state import ServerState
from shared import Caller
from shared.defaults import MAX_WAITS_PER_PRINCIPAL
from shared.service.capture_service import CaptureService
from shared.settings import Settings
from shared.simulator import SAMPLES
from tests.mcp_server.conftest import (
    FAST_SCHEDULE,
    ClientOpenings,
    Opener,
    Progress,
    held_in_a_task,
    make_settings,
    simulator_opener,
    structured,
    text_of,
)
from tests.mcp_server.test_http import mcp_over_http, serving

CREATED = SAMPLES["created"].request_id
IN_QUEUE_FOREVER = SAMPLES["in_queue"].request_id
#: one call of each tool (and the request resource), as a client would make it
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_capture_status", {"request_id": CREATED}),
    ("get_capture_statuses", {"request_ids": [CREATED]}),
    ("wait_for_capture", {"request_id": CREATED, "timeout_seconds": 0}),
    ("get_capture_queue_metrics", {}),
    ("triage_capture_requests", {"request_ids": [CREATED]}),
]
#: the use case each call comes to, and the lane it asks in
EXPECTED = [
    ("look_up", "interactive"),
    ("look_up", "interactive"),
    ("wait", "interactive"),
    ("queue_health", "interactive"),
    ("look_up_many", "bulk"),
    ("look_up", "interactive"),  # the resource capture://requests/{id}
]
USE_CASES = ("look_up", "look_up_many", "wait", "queue_health")


def recording(opener: Opener, seen: list[tuple[str, Caller]]) -> Opener:
    """``opener``'s service, noting the caller of every use case the front door calls."""

    @asynccontextmanager
    async def open_service(settings: Settings) -> AsyncGenerator[CaptureService]:
        async with opener(settings) as service:
            for name in USE_CASES:
                method = getattr(service, name)

                def noted(*args: Any, _name: str = name, _method: Any = method, **kw: Any) -> Any:
                    seen.append((_name, kw["caller"]))
                    return _method(*args, **kw)

                setattr(service, name, noted)
            yield service

    return open_service


@pytest.fixture
def seen() -> list[tuple[str, Caller]]:
    return []


@pytest.fixture
def server(
    sim_app: Starlette, openings: ClientOpenings, seen: list[tuple[str, Caller]]
) -> MCPServer[ServerState]:
    opener = recording(simulator_opener(sim_app, openings), seen)
    return build_server(make_settings(), service_opener=opener, poll_schedule=FAST_SCHEDULE)


async def every_call(client: Client) -> None:
    for tool, arguments in CALLS:
        structured_or_triage = await client.call_tool(tool, arguments)
        assert not structured_or_triage.is_error, text_of(structured_or_triage)
    await client.read_resource(f"capture://requests/{CREATED}")


def lanes(seen: list[tuple[str, Caller]]) -> list[tuple[str, str]]:
    return [(name, caller.lane.name.lower()) for name, caller in seen]


async def test_in_process_every_lookup_is_asked_as_mcp_stdio(
    server: MCPServer[ServerState], seen: list[tuple[str, Caller]]
) -> None:
    async with Client(server) as client:
        await every_call(client)
    assert lanes(seen) == EXPECTED
    assert {caller.principal for _, caller in seen} == {"mcp:stdio"}


@pytest.fixture
async def base_url(server: MCPServer[ServerState]) -> AsyncIterator[str]:
    settings = make_settings()
    async with serving(build_http_app(server, settings), settings) as url:
        yield url


async def test_over_http_every_lookup_is_asked_as_the_name_of_the_token_never_the_token(
    base_url: str, seen: list[tuple[str, Caller]]
) -> None:
    async with mcp_over_http(base_url, era="auto") as client:
        await every_call(client)
    assert lanes(seen) == EXPECTED
    assert {caller.principal for _, caller in seen} == {"mcp:token-1"}


# --- the cap on one caller's waits ----------------------------------------------------------


def plain(sim_app: Starlette, openings: ClientOpenings) -> AbstractAsyncContextManager[Client]:
    server = build_server(
        make_settings(),
        service_opener=simulator_opener(sim_app, openings),
        poll_schedule=FAST_SCHEDULE,
    )
    return held_in_a_task(Client(server))


async def test_one_wait_past_the_cap_is_refused_in_words_the_assistant_can_act_on(
    sim_app: Starlette, openings: ClientOpenings
) -> None:
    async with plain(sim_app, openings) as client:
        progress = [Progress() for _ in range(MAX_WAITS_PER_PRINCIPAL)]
        waits = [
            asyncio.create_task(
                client.call_tool(
                    "wait_for_capture",
                    {"request_id": IN_QUEUE_FOREVER, "timeout_seconds": 60},
                    progress_callback=note,
                )
            )
            for note in progress
        ]
        async with asyncio.timeout(10):
            for note in progress:  # each wait has checked once: it holds its slot
                await note.reached(1).wait()
        refused = await client.call_tool(
            "wait_for_capture", {"request_id": CREATED, "timeout_seconds": 0}
        )
        looked_up = await client.call_tool("get_capture_status", {"request_id": CREATED})
        waits[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await waits[0]
        again = await client.call_tool(
            "wait_for_capture", {"request_id": CREATED, "timeout_seconds": 0}
        )
        for wait in waits[1:]:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    assert refused.is_error
    assert text_of(refused) == (
        "Error executing tool wait_for_capture: Too many waits running at once. "
        f"{MAX_WAITS_PER_PRINCIPAL} waits are already running for this caller, the most one "
        "caller may run at once (so that one client cannot hold the account's budget). Wait "
        "for one of them to end, or look the request up now and wait again later. Next: Let "
        "one of the running waits end, then wait again. Or look the request up now and check "
        "it again later."
    )
    assert structured(looked_up)["status"] == "Success"  # lookups are not waits
    assert structured(again)["finished"] is True  # a cancelled wait gives its slot back
