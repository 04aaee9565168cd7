"""HTTP mode on a real loopback socket: uvicorn, Bolt's Starlette adapter, graceful shutdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app import SlackBot
from bot.http_server import (
    EVENTS_PATH,
    RunningServer,
    create_http_app,
    start_http_server,
)
from shared.simulator import SAMPLES, Simulator
from shared.sockets import bind_socket
from tests.bot.conftest import BotFactory, Gate, assert_valid_message
from tests.bot.fake_slack import FakeSlack, command_body, signed_headers

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


async def test_healthz_answers_ok_with_the_answers_in_flight(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "in_flight": 0}


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
