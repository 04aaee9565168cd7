"""Following over streamable HTTP on a real loopback socket, and ``/readyz`` with the store."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from mcp import MCPError
from mcp.server.subscriptions import ResourceUpdated
from mcp.types import INVALID_REQUEST
from starlette.applications import Starlette

from mcp_server.http_app import build_http_app
from mcp_server.server import build_server
from shared.simulator import SAMPLES, Simulator
from tests.conftest import FakeClock
from tests.mcp_server.conftest import (
    FAST_SCHEDULE,
    PROCESSING_SECONDS,
    capture_body,
    make_settings,
    structured,
)
from tests.mcp_server.test_http import mcp_over_http, serving
from tests.mcp_server.watching import (
    SteppedWatchers,
    request_uri,
    subscribe,
    unreachable_store,
    watched_server,
)

#: the principal of the first token of MCP_AUTH_TOKENS
TOKEN_PRINCIPAL = "mcp:token-1"
CREATED = SAMPLES["created"].request_id
WITHIN = 10.0


async def test_an_http_listen_stream_hears_when_the_followed_request_is_final(
    database_url: str, sim_app: Starlette, sim: Simulator, sim_clock: FakeClock
) -> None:
    watchers = SteppedWatchers()
    settings = make_settings()
    server = watched_server(database_url, sim_app, sim_clock, watchers, settings=settings)
    rid = sim.submit(capture_body())
    uri = request_uri(rid)
    async with (
        serving(build_http_app(server, settings)) as url,
        mcp_over_http(url, era="auto") as client,
        client.listen(resource_subscriptions=[uri]) as stream,
    ):
        [entry] = await watchers.service.watches(TOKEN_PRINCIPAL)
        assert entry.request_id == rid
        assert entry.target == {"uri": uri}
        sim_clock.advance(PROCESSING_SECONDS)
        assert await watchers.step() == 2
        async with asyncio.timeout(WITHIN):
            assert await anext(stream) == ResourceUpdated(uri=uri)
    place, stopped = await watchers.service.next_unwatch(WITHIN)
    assert place == server.following.place(uri)
    assert stopped == 0  # told already: nothing was left to stop


async def test_legacy_subscriptions_are_refused_over_stateless_http_with_what_to_do(
    database_url: str, sim_app: Starlette, sim: Simulator, sim_clock: FakeClock
) -> None:
    watchers = SteppedWatchers()
    settings = make_settings()
    server = watched_server(database_url, sim_app, sim_clock, watchers, settings=settings)
    rid = sim.submit(capture_body())
    async with (
        serving(build_http_app(server, settings)) as url,
        mcp_over_http(url, era="legacy") as client,
    ):
        with pytest.raises(MCPError) as refused:
            await subscribe(client, request_uri(rid))
        async with asyncio.timeout(WITHIN):
            await watchers.started.wait()  # the core opens in the background anyway
        assert await watchers.service.watches(TOKEN_PRINCIPAL) == []
    assert refused.value.error.code == INVALID_REQUEST
    assert "subscriptions/listen" in refused.value.error.message
    assert "wait_for_capture" in refused.value.error.message


async def test_readyz_fails_while_the_store_is_unreachable_and_lookups_keep_working(
    sim_app: Starlette, sim_clock: FakeClock
) -> None:
    settings = make_settings()
    server = build_server(
        settings,
        service_opener=unreachable_store(sim_app, sim_clock),
        poll_schedule=FAST_SCHEDULE,
        watcher_runner=SteppedWatchers(),
    )
    async with serving(build_http_app(server, settings)) as url:
        async with mcp_over_http(url, era="auto") as client:  # waits for the core
            looked_up = await client.call_tool("get_capture_status", {"request_id": CREATED})
        async with httpx.AsyncClient(base_url=url) as http:
            ready = await http.get("/readyz")
            alive = await http.get("/healthz")
    assert structured(looked_up)["status"] == "Success"
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "waiting_for": {"watches": "the database of watches does not answer"},
    }
    assert alive.status_code == 200
