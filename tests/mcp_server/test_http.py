"""Streamable HTTP on a real loopback socket: tokens, Host/Origin checks, both protocol eras."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from types import FrameType

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.types import ASGIApp

from mcp_server.http_app import (
    DrainingServer,
    build_http_app,
    http_config,
    is_loopback,
    transport_security,
)
from mcp_server.server import build_server
from mcp_server.state import ServerState
from shared.errors import ConfigurationError
from shared.infra.probes import Readiness
from shared.infra.sockets import bind_socket
from shared.service.capture_service import CaptureService
from shared.settings import Settings
from shared.simulator import SAMPLES, Simulator
from tests.conftest import SIM_KEY, FakeClock
from tests.idle_connections import idle_connections
from tests.mcp_server.conftest import (
    FAST_SCHEDULE,
    PROCESSING_SECONDS,
    TOKEN,
    ClientOpenings,
    Opener,
    ServerFactory,
    capture_body,
    held_in_a_task,
    make_settings,
    simulator_opener,
    structured,
)

CREATED = SAMPLES["created"].request_id
#: a password in REDIS_URL: never shown by /readyz
SECRET = "redis-password-0123456789"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"},
    },
}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        # a server inside a test must not take over the test runner's Ctrl-C
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, settings: Settings | None = None) -> AsyncGenerator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) as ``serve_http`` does; yield its base URL."""
    sock = bind_socket("127.0.0.1", 0)
    port: int = sock.getsockname()[1]
    config = http_config(app, settings or make_settings(), host="127.0.0.1", port=port)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    await task
                    raise RuntimeError("uvicorn stopped while starting")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()


@pytest.fixture
def http_server(server: MCPServer[ServerState]) -> ASGIApp:
    return build_http_app(server, make_settings())


@pytest.fixture
async def base_url(http_server: ASGIApp) -> AsyncIterator[str]:
    async with serving(http_server) as url:
        yield url


async def post(
    base_url: str, *, headers: dict[str, str], body: object = INITIALIZE
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url) as http:
        return await http.post("/mcp", content=json.dumps(body), headers=headers)


@contextlib.asynccontextmanager
async def mcp_over_http(base_url: str, *, era: str, token: str = TOKEN) -> AsyncGenerator[Client]:
    """An MCP client over streamable HTTP with the bearer token (its HTTP client closed after)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        async with held_in_a_task(Client(transport, mode=era)) as client:
            yield client


async def test_a_request_without_a_token_gets_401_with_a_bearer_challenge(base_url: str) -> None:
    response = await post(base_url, headers=MCP_HEADERS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="capture-status"'
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer", f"Basic {TOKEN}", TOKEN],
    ids=["longer", "shorter", "empty", "basic-scheme", "no-scheme"],
)
async def test_a_wrong_token_gets_401(base_url: str, authorization: str) -> None:
    response = await post(base_url, headers={**MCP_HEADERS, "authorization": authorization})
    assert response.status_code == 401
    assert "Bearer" in response.headers["www-authenticate"]


async def test_every_path_but_the_probes_needs_the_token(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        assert (await http.get("/mcp")).status_code == 401
        assert (await http.get("/other")).status_code == 401
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert health.status_code == 200
    assert health.json() == {"status": "alive"}
    # 200 once the core is open, 503 while it still opens: never 401
    assert ready.json()["status"] in ("not_ready", "ready")
    assert ready.status_code == (200 if ready.json()["status"] == "ready" else 503)


class GatedOpener:
    """Opens a simulator client only once ``release`` is set, or fails with ``failure``."""

    def __init__(self, inner: Opener, failure: Exception | None = None) -> None:
        self._inner = inner
        self._failure = failure
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    @contextlib.asynccontextmanager
    async def __call__(self, settings: Settings) -> AsyncGenerator[CaptureService]:
        self.asked.set()
        await self.release.wait()
        if self._failure is not None:
            raise self._failure
        async with self._inner(settings) as client:
            yield client


def gated_app(opener: GatedOpener, settings: Settings) -> ASGIApp:
    server = build_server(settings, service_opener=opener, poll_schedule=FAST_SCHEDULE)
    return build_http_app(server, settings)


async def test_readyz_answers_503_while_the_core_opens_and_200_once_it_is_ready(
    sim_app: Starlette, openings: ClientOpenings
) -> None:
    opener = GatedOpener(simulator_opener(sim_app, openings))
    settings = make_settings()
    async with (
        serving(gated_app(opener, settings)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        async with asyncio.timeout(10):
            await opener.asked.wait()
        starting = await http.get("/readyz")
        alive = await http.get("/healthz")
        opener.release.set()
        async with mcp_over_http(url, era="auto") as client:  # waits for the core
            await client.call_tool("get_capture_status", {"request_id": CREATED})
        ready = await http.get("/readyz")
    assert starting.status_code == 503
    assert starting.json() == {
        "status": "not_ready",
        "waiting_for": {"core": "starting: the LeadSquared client is opening"},
    }
    # liveness never waits for the core
    assert alive.status_code == 200
    assert alive.json() == {"status": "alive"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_readyz_answers_503_draining_from_the_shutdown_signal_on(
    sim_app: Starlette, openings: ClientOpenings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    readiness = Readiness()
    server = build_server(
        settings,
        service_opener=simulator_opener(sim_app, openings),
        poll_schedule=FAST_SCHEDULE,
        readiness=readiness,
    )
    app = build_http_app(server, settings)
    # serve_http's server; here only its signal handler runs (the test's server keeps serving)
    signalled = DrainingServer(http_config(app, settings, host="127.0.0.1", port=0), readiness)
    # uvicorn's own handler, which sse_starlette patches to end every SSE stream of the
    # process, is recorded instead: the streams of the later tests must live on
    delegated: list[int] = []

    def uvicorn_handle_exit(_: uvicorn.Server, sig: int, __: FrameType | None) -> None:
        delegated.append(sig)

    monkeypatch.setattr(uvicorn.Server, "handle_exit", uvicorn_handle_exit)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        async with mcp_over_http(url, era="auto") as client:  # waits for the core
            await client.call_tool("get_capture_status", {"request_id": CREATED})
        ready = await http.get("/readyz")
        signalled.handle_exit(signal.SIGTERM, None)  # what uvicorn calls on SIGTERM
        draining = await http.get("/readyz")
        alive = await http.get("/healthz")
    assert delegated == [signal.SIGTERM]
    assert ready.status_code == 200
    assert draining.status_code == 503
    assert draining.json() == {"status": "draining"}
    assert alive.status_code == 200


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            ConfigurationError(f"Redis refused redis://:{SECRET}@redis:6379/0 at start."),
            "capture-status could not start. Redis refused [redacted] at start.",
        ),
        (
            RuntimeError(f"internal detail with {SECRET}"),
            "capture-status could not open its connection to LeadSquared",
        ),
    ],
    ids=["our-error", "unexpected-error"],
)
async def test_readyz_answers_503_with_the_reason_but_no_secret_when_the_core_failed_to_open(
    sim_app: Starlette, openings: ClientOpenings, failure: Exception, expected: str
) -> None:
    opener = GatedOpener(simulator_opener(sim_app, openings), failure=failure)
    opener.release.set()
    settings = make_settings(redis_url=SecretStr(f"redis://:{SECRET}@redis:6379/0"))
    async with serving(gated_app(opener, settings)) as url:
        async with mcp_over_http(url, era="auto") as client:  # waits until opening failed
            tool = await client.call_tool("get_capture_status", {"request_id": CREATED})
        async with httpx.AsyncClient(base_url=url) as http:
            ready = await http.get("/readyz")
            alive = await http.get("/healthz")
    assert tool.is_error
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready"
    assert list(body["waiting_for"]) == ["core"]
    assert body["waiting_for"]["core"].startswith("failed: " + expected)
    assert SECRET not in ready.text
    # alive all the same: restarting the process would not fix a setting
    assert alive.json() == {"status": "alive"}
    assert openings.opened == 0


async def test_prometheus_scrapes_the_clients_counters_without_a_token(base_url: str) -> None:
    async with mcp_over_http(base_url, era="auto") as client:
        await client.call_tool("get_capture_status", {"request_id": CREATED})
    async with httpx.AsyncClient(base_url=base_url) as http:
        ready = await http.get("/readyz")
        scraped = await http.get("/metrics")
    assert ready.json() == {"status": "ready"}
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'capture_status_upstream_calls_total{account="default",result="ok"} 1.0' in scraped.text
    assert SIM_KEY not in scraped.text
    assert TOKEN not in scraped.text


async def test_a_foreign_host_gets_421_even_with_the_token(base_url: str) -> None:
    headers = {**MCP_HEADERS, "authorization": f"Bearer {TOKEN}", "host": "evil.example.com"}
    response = await post(base_url, headers=headers)
    assert response.status_code == 421


async def test_a_foreign_origin_gets_403(base_url: str) -> None:
    headers = {
        **MCP_HEADERS,
        "authorization": f"Bearer {TOKEN}",
        "origin": "https://evil.example.com",
    }
    response = await post(base_url, headers=headers)
    assert response.status_code == 403


async def test_a_legacy_initialize_with_the_token_works_and_opens_no_session(
    base_url: str,
) -> None:
    headers = {**MCP_HEADERS, "authorization": f"Bearer {TOKEN}"}
    response = await post(base_url, headers=headers)
    assert response.status_code == 200
    # stateless: no session to pin to a replica behind a load balancer
    assert "mcp-session-id" not in response.headers
    data = next(
        line.removeprefix("data: ")
        for line in response.text.splitlines()
        if line.startswith("data: ")
    )
    result = json.loads(data)["result"]
    assert result["serverInfo"]["name"] == "capture-status"


async def test_the_allowed_hosts_setting_admits_a_deployed_host_name(
    make_server: ServerFactory,
) -> None:
    settings = make_settings(mcp_allowed_hosts=("mcp.example.com", "mcp.example.com:*"))
    app = build_http_app(make_server(settings=settings), settings)
    async with serving(app) as url:
        headers = {**MCP_HEADERS, "authorization": f"Bearer {TOKEN}"}
        deployed = await post(url, headers={**headers, "host": "mcp.example.com"})
        unlisted = await post(url, headers={**headers, "host": "mcp.example.org"})
    assert deployed.status_code == 200
    assert unlisted.status_code == 421


# DNS rebinding (security review, issue 8): the probes sit behind the same Host check as /mcp.

DEPLOYED_HOSTS = ("mcp.example.com", "mcp.example.com:*")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:8000", "mcp.example.org"])
async def test_the_probes_refuse_a_foreign_host_with_421_as_mcp_does(
    make_server: ServerFactory, path: str, host: str
) -> None:
    settings = make_settings(mcp_allowed_hosts=DEPLOYED_HOSTS)
    async with (
        serving(build_http_app(make_server(settings=settings), settings), settings) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        probe = await http.get(path, headers={"host": host})
        mcp = await http.post(
            "/mcp", content=json.dumps(INITIALIZE), headers={**MCP_HEADERS, "host": host}
        )
    assert probe.status_code == 421
    assert mcp.status_code == 421


async def test_the_probes_refuse_a_foreign_origin_with_403(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        evil = {"origin": "https://evil.example.com"}
        health = await http.get("/healthz", headers=evil)
        ready = await http.get("/readyz", headers=evil)
        metrics = await http.get("/metrics", headers=evil)
    assert [health.status_code, ready.status_code, metrics.status_code] == [403, 403, 403]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "127.0.0.1", "localhost:{port}", "mcp.example.com"],
    ids=["docker-healthcheck", "address-without-port", "localhost", "listed-name"],
)
async def test_probes_and_scrapers_reach_the_probes_with_the_address_they_connected_to(
    make_server: ServerFactory, host: str
) -> None:
    # a kubelet probe or a Prometheus scrape sends the pod's IP:port as Host; here the
    # connection arrives on 127.0.0.1, so that is the address it names
    settings = make_settings(mcp_allowed_hosts=DEPLOYED_HOSTS)
    async with (
        serving(build_http_app(make_server(settings=settings), settings), settings) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        port = url.rsplit(":", 1)[1]
        headers = {"host": host.format(port=port)}
        health = await http.get("/healthz", headers=headers)
        ready = await http.get("/readyz", headers=headers)
        metrics = await http.get("/metrics", headers=headers)
    assert health.status_code == 200
    # 200 once the core is open, 503 while it opens: reached either way, never 421
    assert ready.status_code in (200, 503)
    assert ready.json()["status"] in ("not_ready", "ready")
    assert metrics.status_code == 200


async def test_a_host_naming_another_address_than_the_one_connected_to_gets_421(
    base_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        health = await http.get("/healthz", headers={"host": "10.1.2.3:8000"})
        ready = await http.get("/readyz", headers={"host": "10.1.2.3:8000"})
    assert [health.status_code, ready.status_code] == [421, 421]


# Connection floods (security review, issue 8)


async def test_healthz_answers_while_idle_connections_flood_the_server(
    server: MCPServer[ServerState],
) -> None:
    settings = make_settings(http_max_connections=20, http_header_timeout_seconds=30)
    async with (
        serving(build_http_app(server, settings), settings) as url,
        idle_connections(url, 300) as idle,
    ):
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as http, asyncio.timeout(5):
            health = await http.get("/healthz")
            ready = await http.get("/readyz")
        assert health.status_code == 200
        assert ready.status_code in (200, 503)  # answered: ready, or the core still opens
        closed = await asyncio.gather(*(c.closed_by_server(within=5.0) for c in idle[:250]))
        assert all(closed)


async def test_connections_that_never_finish_their_headers_are_closed_after_the_timeout(
    server: MCPServer[ServerState],
) -> None:
    settings = make_settings(http_header_timeout_seconds=0.5)
    async with serving(build_http_app(server, settings), settings) as url:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with idle_connections(url, 20) as idle:
            closed = await asyncio.gather(*(c.closed_by_server(within=5.0) for c in idle))
            elapsed = loop.time() - started
        assert all(closed)
        assert 0.4 <= elapsed < 5.0


@pytest.mark.parametrize("http_era", ["auto", "legacy"], ids=["2026-sessionless", "legacy"])
async def test_an_mcp_client_with_the_token_lists_and_calls_tools(
    base_url: str, http_era: str
) -> None:
    async with mcp_over_http(base_url, era=http_era) as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool("get_capture_status", {"request_id": CREATED})
    assert len(tools) == 6
    content = structured(result)
    assert content["status"] == "Success"
    assert content["outcome"]["kind"] == "created"


@pytest.mark.parametrize("http_era", ["auto", "legacy"], ids=["2026-sessionless", "legacy"])
async def test_progress_notifications_reach_an_http_client_during_a_wait(
    base_url: str, http_era: str, sim: Simulator, sim_clock: FakeClock
) -> None:
    rid = sim.submit(capture_body())
    first_note = asyncio.Event()
    notes: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message)
        first_note.set()

    async def finish_when_progress_arrives() -> None:
        await first_note.wait()
        sim_clock.advance(PROCESSING_SECONDS)

    finisher = asyncio.create_task(finish_when_progress_arrives())
    async with mcp_over_http(base_url, era=http_era) as client:
        result = await client.call_tool(
            "wait_for_capture",
            {"request_id": rid, "timeout_seconds": 30},
            progress_callback=on_progress,
        )
    async with asyncio.timeout(5):
        await finisher
    content = structured(result)
    assert content["finished"] is True
    assert content["capture"]["status"] == "Success"
    assert notes
    assert notes[0] is not None
    assert notes[0].startswith("Check 1: In-Queue")


async def test_the_http_app_opens_one_client_at_startup_and_closes_it_at_shutdown(
    http_server: ASGIApp, openings: ClientOpenings
) -> None:
    async with serving(http_server) as url:
        for era in ("auto", "legacy"):
            async with mcp_over_http(url, era=era) as client:
                await client.call_tool("get_capture_status", {"request_id": CREATED})
        assert (openings.opened, openings.closed) == (1, 0)
    assert (openings.opened, openings.closed) == (1, 1)


def test_http_refuses_to_start_without_tokens(server: MCPServer[ServerState]) -> None:
    with pytest.raises(ConfigurationError, match="MCP_AUTH_TOKENS is empty"):
        build_http_app(server, make_settings(mcp_auth_tokens=()))


def test_http_refuses_short_tokens(server: MCPServer[ServerState]) -> None:
    settings = make_settings(mcp_auth_tokens=(SecretStr(TOKEN), SecretStr("short")))
    with pytest.raises(ConfigurationError, match="shorter than 16 characters"):
        build_http_app(server, settings)


def test_origins_are_derived_from_the_allowed_hosts() -> None:
    security = transport_security(make_settings(mcp_allowed_hosts=("mcp.example.com",)))
    assert security.enable_dns_rebinding_protection
    assert security.allowed_hosts == ["mcp.example.com"]
    assert security.allowed_origins == ["http://mcp.example.com", "https://mcp.example.com"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("mcp.example.com", False),
    ],
)
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
