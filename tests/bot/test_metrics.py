"""``GET /metrics`` on the Slack app's HTTP server: the client's counters, for Prometheus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app import SlackBot
from bot.http_server import EVENTS_PATH, METRICS_PATH, create_http_app, start_http_server
from shared.infra.sockets import bind_socket
from shared.service.watcher import Watcher
from shared.simulator import SAMPLES, Simulator
from tests.bot.conftest import BotFactory, assert_valid_message
from tests.bot.fake_slack import FakeSlack, command_body, signed_headers
from tests.databases import open_test_store

CREATED = SAMPLES["created"].request_id
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def http(make_bot: BotFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The bot's HTTP server on a real loopback socket, and a client of it."""
    bot: SlackBot = make_bot()
    await bot.identity.verify()
    server = await start_http_server(
        create_http_app(bot, drain_seconds=5.0), bind_socket("127.0.0.1", 0)
    )
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
            yield client
    finally:
        await server.stop()


def _samples(text: str, name: str) -> dict[str, float]:
    """The samples of metric ``name`` in Prometheus text: ``{'{labels}': value}``."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            key, value = line[len(name) :].rsplit(" ", 1)
            found[key] = float(value)
    return found


async def test_metrics_count_a_signed_lookup_and_its_upstream_call(
    http: httpx.AsyncClient, fake_slack: FakeSlack, sim: Simulator
) -> None:
    before = await http.get(METRICS_PATH)
    assert before.status_code == 200
    assert _samples(before.text, "capture_status_lookups_total") == {}

    body = command_body(CREATED, response_url=fake_slack.hook_url("m"))
    ack = await http.post(EVENTS_PATH, content=body, headers={**FORM, **signed_headers(body)})
    assert ack.status_code == 200
    [answer] = await fake_slack.wait_for("/hooks/m")
    assert_valid_message(answer.body)

    response = await http.get(METRICS_PATH)  # a scrape carries no Slack signature
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert _samples(response.text, "capture_status_lookups_total") == {
        '{account="default",outcome="found"}': 1
    }
    assert _samples(response.text, "capture_status_upstream_calls_total") == {
        '{account="default",result="ok"}': 1
    }
    assert len(sim.calls) == 1


async def test_metrics_are_read_only(http: httpx.AsyncClient) -> None:
    assert (await http.post(METRICS_PATH)).status_code == 405


async def test_metrics_carry_the_watch_figures_once_the_watcher_runs(
    make_bot: BotFactory, database_url: str
) -> None:
    async with open_test_store(database_url) as store:
        bot: SlackBot = make_bot(store=store)
        server = await start_http_server(
            create_http_app(bot, drain_seconds=5.0), bind_socket("127.0.0.1", 0)
        )
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
                before = await client.get(METRICS_PATH)
                assert _samples(before.text, "capture_status_watches") == {}
                bot.watcher.current = Watcher(bot.service, store, notifiers={"slack": bot.notifier})
                await bot.watcher.current.refresh_counts()
                after = await client.get(METRICS_PATH)
                assert _samples(after.text, "capture_status_watches") == {
                    '{state="active"}': 0.0,
                    '{state="due"}': 0.0,
                    '{state="overdue"}': 0.0,
                }
        finally:
            await server.stop()
