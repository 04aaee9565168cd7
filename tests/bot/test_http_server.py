"""HTTP mode on a real loopback socket: uvicorn, Bolt's Starlette adapter, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app import SlackBot
from bot.http_server import (
    EVENTS_PATH,
    RunningServer,
    bot_readiness,
    create_http_app,
    start_http_server,
)
from shared.infra.serving import HttpLimits
from shared.infra.sockets import bind_socket
from shared.simulator import SAMPLES, Simulator
from tests.bot.conftest import BotFactory, Gate, assert_valid_message
from tests.bot.fake_slack import SIGNING_SECRET, FakeSlack, command_body, signed_headers
from tests.idle_connections import idle_connections

CREATED = SAMPLES["created"].request_id
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def bot(make_bot: BotFactory) -> SlackBot:
    bot = make_bot()
    await bot.identity.verify()  # what `python -m bot` does before it serves
    return bot


@pytest.fixture
async def server(bot: SlackBot) -> AsyncIterator[RunningServer]:
    running = await start_http_server(
        create_http_app(bot, drain_seconds=5.0), bind_socket("127.0.0.1", 0)
    )
    yield running
    if not running.stopped:
        await running.stop()


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
        yield client


async def _post_command(http: httpx.AsyncClient, body: str, **headers: str) -> httpx.Response:
    signed = headers or signed_headers(body)
    return await http.post(EVENTS_PATH, content=body, headers={**FORM, **signed})


async def test_the_ack_comes_back_over_http_while_the_lookup_is_held_upstream(
    http: httpx.AsyncClient, fake_slack: FakeSlack, gate: Gate, sim: Simulator
) -> None:
    gate.close()
    body = command_body(CREATED, response_url=fake_slack.hook_url("http"))
    async with asyncio.timeout(5):
        response = await _post_command(http, body)
        await gate.entered.wait()
    assert response.status_code == 200
    assert response.content == b""
    assert sim.calls == []
    assert fake_slack.posts("/hooks/http") == []
    # nothing but Slack's own check of the token (done at start-up) reached Slack's side
    assert [r.path for r in fake_slack.received] == ["/api/auth.test"]

    gate.open()
    [answer] = await fake_slack.wait_for("/hooks/http")
    assert_valid_message(answer.body)
    assert CREATED in answer.body["text"]
    assert len(sim.calls) == 1


async def test_the_probes_say_alive_and_ready_with_the_answers_in_flight(
    http: httpx.AsyncClient,
) -> None:
    alive = await http.get("/healthz")
    ready = await http.get("/readyz")
    assert alive.status_code == 200
    assert alive.json() == {"status": "alive"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "in_flight": 0}


async def test_readyz_waits_for_slack_to_accept_the_token_while_healthz_says_alive(
    make_bot: BotFactory,
) -> None:
    bot = make_bot()  # its token not checked yet: Slack could not be reached at start-up
    running = await start_http_server(
        create_http_app(bot, drain_seconds=1.0), bind_socket("127.0.0.1", 0)
    )
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=5.0) as http:
            waiting = await http.get("/readyz")
            alive = await http.get("/healthz")
            await bot.identity.verify()  # what the retry in the background does
            ready = await http.get("/readyz")
    finally:
        await running.stop()
    assert waiting.status_code == 503
    assert waiting.json() == {
        "status": "not_ready",
        "waiting_for": {"slack_identity": "Slack has not yet accepted SLACK_BOT_TOKEN (auth.test)"},
        "in_flight": 0,
    }
    assert alive.status_code == 200
    assert alive.json() == {"status": "alive"}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "in_flight": 0}


async def test_readyz_says_draining_once_the_shutdown_began(bot: SlackBot) -> None:
    readiness = bot_readiness(bot)
    running = await start_http_server(
        create_http_app(bot, drain_seconds=1.0, readiness=readiness),
        bind_socket("127.0.0.1", 0),
    )
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=5.0) as http:
            before = await http.get("/readyz")
            readiness.start_draining()  # what `python -m bot` does on SIGTERM, before stopping
            draining = await http.get("/readyz")
            alive = await http.get("/healthz")
    finally:
        await running.stop()
    assert before.status_code == 200
    assert draining.status_code == 503
    assert draining.json() == {"status": "draining", "in_flight": 0}
    assert alive.status_code == 200


async def test_other_paths_and_methods_are_not_served(http: httpx.AsyncClient) -> None:
    assert (await http.get("/")).status_code == 404
    assert (await http.get(EVENTS_PATH)).status_code == 405


async def test_forged_and_stale_requests_get_401_over_http_and_no_lookup(
    http: httpx.AsyncClient, fake_slack: FakeSlack, sim: Simulator, bot: SlackBot
) -> None:
    body = command_body(CREATED, response_url=fake_slack.hook_url("bad"))
    forged = await _post_command(http, body, **signed_headers(body, secret="guessed"))
    stale = await _post_command(
        http, body, **signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    )
    unsigned = await http.post(EVENTS_PATH, content=body, headers=FORM)
    assert [forged.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    assert bot.in_flight.count == 0
    assert sim.calls == []
    assert fake_slack.posts("/hooks/bad") == []


@pytest.mark.parametrize("timestamp", ["\u00b2", "\u0663\u0663", "1e9", "-5", ""])
async def test_a_timestamp_that_is_not_ascii_digits_gets_401_not_an_error(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    caplog.set_level(logging.WARNING)
    headers: dict[bytes, bytes] = {
        **{name.encode(): value.encode() for name, value in FORM.items()},
        b"x-slack-request-timestamp": timestamp.encode("utf-8"),
        b"x-slack-signature": b"v0=" + b"0" * 64,
    }
    response = await http.post(EVENTS_PATH, content=b"text=x", headers=headers)
    assert response.status_code == 401
    _no_error_logged(caplog)


async def test_a_graceful_shutdown_finishes_the_answers_in_flight(
    http: httpx.AsyncClient,
    server: RunningServer,
    bot: SlackBot,
    fake_slack: FakeSlack,
    gate: Gate,
) -> None:
    gate.close()
    body = command_body(CREATED, response_url=fake_slack.hook_url("late"))
    async with asyncio.timeout(5):
        assert (await _post_command(http, body)).status_code == 200
        await gate.entered.wait()
        server.request_stop()  # what SIGTERM does
        await bot.in_flight.draining.wait()  # the server stopped taking requests and waits
    assert not server.stopped
    assert fake_slack.posts("/hooks/late") == []

    gate.open()
    async with asyncio.timeout(5):
        await server.wait()
    [answer] = await fake_slack.wait_for("/hooks/late", within=0.1)
    assert_valid_message(answer.body)
    assert bot.in_flight.count == 0


# Abusive clients (security review, issue 8): bodies, connections and headers are bounded.

_MB = 1024 * 1024
SMALL_LIMITS = HttpLimits(max_connections=20, header_timeout_seconds=30.0, keep_alive_seconds=5)


def _raw_request(headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {EVENTS_PATH} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _status_of_answer(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    return int(status_line.split()[1])


def _fresh_but_forged() -> dict[str, str]:
    return {
        "x-slack-request-timestamp": str(int(time.time())),
        "x-slack-signature": "v0=" + "0" * 64,
    }


def _signed_bytes(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={digest.hexdigest()}"}


def _no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_a_body_declared_over_1_mb_gets_413_before_any_of_it_is_sent(
    server: RunningServer, bot: SlackBot
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    headers = {**FORM, **_fresh_but_forged(), "content-length": str(300 * _MB)}
    writer.write(_raw_request(headers))  # the 300 MB never follow
    async with asyncio.timeout(5):
        assert await _status_of_answer(reader) == 413
    writer.close()
    assert bot.in_flight.count == 0


async def test_a_streamed_body_without_a_length_is_cut_off_past_1_mb(
    server: RunningServer,
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    headers = {**FORM, **_fresh_but_forged(), "transfer-encoding": "chunked"}
    writer.write(_raw_request(headers))
    chunk = b"a" * (64 * 1024)
    answer = asyncio.create_task(_status_of_answer(reader))
    async with asyncio.timeout(5):
        for _ in range(20):  # 1.25 MB, and the closing chunk never comes
            if answer.done():
                break
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        assert await answer == 413
    writer.close()


async def test_a_body_slower_than_the_header_timeout_gets_408(bot: SlackBot) -> None:
    limits = HttpLimits(max_connections=20, header_timeout_seconds=0.3, keep_alive_seconds=5)
    running = await start_http_server(
        create_http_app(bot, drain_seconds=1.0, limits=limits),
        bind_socket("127.0.0.1", 0),
        limits=limits,
    )
    try:
        host, port = running.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(_raw_request({**FORM, **_fresh_but_forged(), "content-length": "100"}))
        writer.write(b"text=")  # and the rest never comes
        async with asyncio.timeout(5):
            assert await _status_of_answer(reader) == 408
        writer.close()
    finally:
        await running.stop()


MALFORMED = {
    "form with broken JSON payload": (b"payload=%7Bnot-json", FORM["content-type"]),
    "JSON array": (b"[1,2]", "application/json"),
    "JSON array as payload": (b"payload=%5B1%2C2%5D", FORM["content-type"]),
    "not UTF-8": (b"text=\xff\xfe\xfd", FORM["content-type"]),
    "broken JSON": (b"{not json", "application/json"),
    "fields of the wrong type": (b'{"authorizations": 5, "team": 7}', "application/json"),
}


@pytest.mark.parametrize(("body", "content_type"), MALFORMED.values(), ids=MALFORMED.keys())
async def test_an_unsigned_malformed_body_gets_401_without_an_error_logged(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    caplog.set_level(logging.WARNING)
    unsigned = await http.post(EVENTS_PATH, content=body, headers={"content-type": content_type})
    forged = await http.post(
        EVENTS_PATH, content=body, headers={"content-type": content_type, **_fresh_but_forged()}
    )
    assert [unsigned.status_code, forged.status_code] == [401, 401]
    _no_error_logged(caplog)


@pytest.mark.parametrize(("body", "content_type"), MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_signed_malformed_body_gets_400_without_an_error_logged(
    http: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    bot: SlackBot,
    body: bytes,
    content_type: str,
) -> None:
    caplog.set_level(logging.WARNING)
    headers = {"content-type": content_type, **_signed_bytes(body)}
    response = await http.post(EVENTS_PATH, content=body, headers=headers)
    assert response.status_code == 400
    assert bot.in_flight.count == 0
    _no_error_logged(caplog)


async def test_healthz_answers_while_idle_connections_flood_the_server(bot: SlackBot) -> None:
    running = await start_http_server(
        create_http_app(bot, drain_seconds=1.0), bind_socket("127.0.0.1", 0), limits=SMALL_LIMITS
    )
    try:
        async with idle_connections(running.url, 200) as idle:
            async with httpx.AsyncClient(base_url=running.url, timeout=5.0) as http:
                async with asyncio.timeout(5):
                    health = await http.get("/healthz")
                    ready = await http.get("/readyz")
            assert health.status_code == 200
            assert ready.status_code == 200
            # the server keeps at most 20 open: the longest idle ones were closed for the new
            closed = await asyncio.gather(*(c.closed_by_server(within=5.0) for c in idle[:150]))
            assert all(closed)
    finally:
        await running.stop()


async def test_a_connection_that_never_finishes_its_headers_is_closed_after_the_timeout(
    bot: SlackBot,
) -> None:
    limits = HttpLimits(max_connections=20, header_timeout_seconds=0.5, keep_alive_seconds=5)
    running = await start_http_server(
        create_http_app(bot, drain_seconds=1.0), bind_socket("127.0.0.1", 0), limits=limits
    )
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with (
            idle_connections(running.url, 5) as partial,
            idle_connections(running.url, 5, sent=b"") as silent,
        ):
            closed = await asyncio.gather(
                *(c.closed_by_server(within=5.0) for c in [*partial, *silent])
            )
            elapsed = loop.time() - started
        assert all(closed)
        assert 0.4 <= elapsed < 5.0
        async with httpx.AsyncClient(base_url=running.url, timeout=5.0) as http:
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await running.stop()
