"""Socket Mode against a local Slack: apps.connections.open on the fake Web API, then a local
websocket server (the ``websockets`` library) that delivers envelopes and receives acks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection, serve

from bot.errors import StartupError
from bot.socket_mode import SocketModeConnection, run_socket_mode
from shared.errors import ConfigurationError
from shared.infra.sockets import bind_socket
from shared.simulator import SAMPLES, Simulator
from tests.bot.conftest import BotFactory, Gate, assert_valid_message
from tests.bot.fake_slack import APP_TOKEN, FakeSlack

CREATED = SAMPLES["created"].request_id


class SocketModeEndpoint:
    """Slack's websocket end: says hello, sends queued envelopes, records what comes back."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.connected = asyncio.Event()

    async def handler(self, websocket: ServerConnection) -> None:
        self.connected.set()
        await websocket.send(json.dumps({"type": "hello", "num_connections": 1}))

        async def send_envelopes() -> None:
            while True:
                await websocket.send(json.dumps(await self.outbox.get()))

        sender = asyncio.create_task(send_envelopes())
        try:
            async for raw in websocket:
                await self.inbox.put(json.loads(raw))
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


@pytest.fixture
async def endpoint(fake_slack: FakeSlack) -> AsyncIterator[SocketModeEndpoint]:
    end = SocketModeEndpoint()
    server: Server
    async with serve(end.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fake_slack.ws_url = f"ws://127.0.0.1:{port}/link/?ticket=test"
        yield end


def _slash_command_envelope(text: str, response_url: str) -> dict[str, Any]:
    return {
        "envelope_id": "env-0001",
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "token": "legacy-verification-token",
            "team_id": "T0ACME",
            "team_domain": "acme",
            "channel_id": "C0OPS",
            "channel_name": "ops",
            "user_id": "U0ALICE",
            "user_name": "alice",
            "command": "/capture-status",
            "text": text,
            "api_app_id": "A0CAPTURE",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": "1337.42.abcdef",
        },
    }


async def test_a_slash_command_envelope_is_acked_on_the_websocket_before_the_lookup(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    endpoint: SocketModeEndpoint,
    gate: Gate,
    sim: Simulator,
) -> None:
    bot = make_bot(slack_app_token=SecretStr(APP_TOKEN))
    await bot.identity.verify()
    connection = SocketModeConnection(bot, SecretStr(APP_TOKEN))
    try:
        async with asyncio.timeout(5):
            await connection.connect()
            await endpoint.connected.wait()
        [opened] = fake_slack.posts("/api/apps.connections.open")
        assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
        assert await connection.is_connected()

        gate.close()
        envelope = _slash_command_envelope(CREATED, fake_slack.hook_url("sock"))
        await endpoint.outbox.put(envelope)
        async with asyncio.timeout(5):
            ack = await endpoint.inbox.get()
            await gate.entered.wait()
        assert ack == {"envelope_id": "env-0001"}
        assert sim.calls == []
        assert fake_slack.posts("/hooks/sock") == []

        gate.open()
        [answer] = await fake_slack.wait_for("/hooks/sock")
        assert_valid_message(answer.body)
        assert CREATED in answer.body["text"]
    finally:
        await connection.close()


async def test_help_is_answered_in_the_ack_envelope(
    make_bot: BotFactory, fake_slack: FakeSlack, endpoint: SocketModeEndpoint
) -> None:
    bot = make_bot(slack_app_token=SecretStr(APP_TOKEN))
    stop = asyncio.Event()
    runner = asyncio.create_task(run_socket_mode(bot, SecretStr(APP_TOKEN), stop, drain_seconds=5))
    try:
        async with asyncio.timeout(5):
            await endpoint.connected.wait()
            await endpoint.outbox.put(_slash_command_envelope("help", fake_slack.hook_url("h")))
            ack = await endpoint.inbox.get()
        assert ack["envelope_id"] == "env-0001"
        assert_valid_message(ack["payload"])
        assert ack["payload"]["response_type"] == "ephemeral"
    finally:
        stop.set()
        async with asyncio.timeout(5):
            await runner


async def test_a_refused_app_token_is_a_clear_configuration_error(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    fake_slack.refuse_tokens = True
    bot = make_bot(slack_app_token=SecretStr(APP_TOKEN))
    connection = SocketModeConnection(bot, SecretStr(APP_TOKEN))
    try:
        refused = r"Slack refused SLACK_APP_TOKEN \(invalid_auth\)"
        with pytest.raises(ConfigurationError, match=refused):
            await connection.connect()
    finally:
        await connection.close()


async def test_stopping_closes_the_socket_then_finishes_the_answers_in_flight(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    endpoint: SocketModeEndpoint,
    gate: Gate,
) -> None:
    bot = make_bot(slack_app_token=SecretStr(APP_TOKEN))
    stop = asyncio.Event()
    runner = asyncio.create_task(run_socket_mode(bot, SecretStr(APP_TOKEN), stop, drain_seconds=5))
    gate.close()
    async with asyncio.timeout(5):
        await endpoint.connected.wait()
        await endpoint.outbox.put(_slash_command_envelope(CREATED, fake_slack.hook_url("late")))
        assert await endpoint.inbox.get() == {"envelope_id": "env-0001"}
        await gate.entered.wait()
        stop.set()  # what SIGTERM does
        await bot.in_flight.draining.wait()
    assert not runner.done()
    assert fake_slack.posts("/hooks/late") == []
    gate.open()
    async with asyncio.timeout(5):
        await runner
    [answer] = await fake_slack.wait_for("/hooks/late", within=0.1)
    assert_valid_message(answer.body)


async def test_an_unreachable_slack_is_a_clear_start_up_error(make_bot: BotFactory) -> None:
    bot = make_bot(slack_app_token=SecretStr(APP_TOKEN), slack_api_url="http://127.0.0.1:9")
    connection = SocketModeConnection(bot, SecretStr(APP_TOKEN))
    try:
        with pytest.raises(StartupError, match="Slack could not be reached"):
            await connection.connect()
    finally:
        await connection.close()


async def test_socket_mode_serves_the_probes_and_metrics_but_not_slack_events(
    make_bot: BotFactory, endpoint: SocketModeEndpoint
) -> None:
    bot = make_bot(slack_app_token=SecretStr(APP_TOKEN))
    await bot.identity.verify()  # what `python -m bot` does before it connects
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    runner = asyncio.create_task(
        run_socket_mode(bot, SecretStr(APP_TOKEN), stop, drain_seconds=5, health_socket=sock)
    )
    try:
        async with asyncio.timeout(5):
            await endpoint.connected.wait()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            async with asyncio.timeout(5):
                ready = await http.get("/readyz")
                while ready.status_code != 200:  # the hello may still be on its way
                    assert ready.json()["waiting_for"] == {
                        "slack_connection": "the Socket Mode websocket is not open"
                    }
                    ready = await http.get("/readyz")
            assert ready.json() == {"status": "ready", "in_flight": 0}
            health = await http.get("/healthz")
            assert health.status_code == 200
            assert health.json() == {"status": "alive"}
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert "capture_status_" in metrics.text
            events = await http.post("/slack/events", content=b"{}")
            assert events.status_code in {404, 405}
    finally:
        stop.set()
        async with asyncio.timeout(5):
            await runner
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=5) as http:
            await http.get(f"http://127.0.0.1:{port}/healthz")


async def test_readyz_says_draining_until_the_answers_in_flight_are_done(
    make_bot: BotFactory, fake_slack: FakeSlack, endpoint: SocketModeEndpoint, gate: Gate
) -> None:
    bot = make_bot(slack_app_token=SecretStr(APP_TOKEN))
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    stop = asyncio.Event()
    runner = asyncio.create_task(
        run_socket_mode(bot, SecretStr(APP_TOKEN), stop, drain_seconds=5, health_socket=sock)
    )
    gate.close()
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http,
            asyncio.timeout(5),
        ):
            await endpoint.connected.wait()
            # before Slack accepted the token (no auth.test yet): alive, but not ready
            not_ready = await http.get("/readyz")
            alive = await http.get("/healthz")
            await endpoint.outbox.put(_slash_command_envelope(CREATED, fake_slack.hook_url("d")))
            await gate.entered.wait()  # acknowledged, and its lookup held upstream
            stop.set()  # what SIGTERM does
            await bot.in_flight.draining.wait()
            draining = await http.get("/readyz")
            still_alive = await http.get("/healthz")
        assert not runner.done()
    finally:
        gate.open()
        stop.set()
        async with asyncio.timeout(5):
            await runner
    assert not_ready.status_code == 503
    assert "slack_identity" in not_ready.json()["waiting_for"]
    assert alive.status_code == 200
    assert draining.status_code == 503
    assert draining.json() == {"status": "draining", "in_flight": 1}
    assert still_alive.json() == {"status": "alive"}
    [answer] = await fake_slack.wait_for("/hooks/d")
    assert_valid_message(answer.body)
