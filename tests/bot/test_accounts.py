"""Two LeadSquared accounts behind one Slack app: routing, buttons and queue health.

One simulator serves both accounts (each its own key, window and data), so an id of the
``us`` account is found only when the answer really comes from ``us``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.actions import REFRESH, SHARE, WATCH, CardTarget
from bot.app import SlackBot, build_slack_bot
from shared.accounts import load_accounts
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.simulator import (
    SimulatedAccount,
    Simulator,
    SimulatorConfig,
    create_app,
    sample_ids_for,
)
from shared.store import WatchStore
from tests.bot.conftest import NOW, assert_valid_home, assert_valid_message, bot_settings, dispatch
from tests.bot.fake_slack import FakeSlack, action_body, command_body, event_body
from tests.conftest import SIM_KEY, fast_options
from tests.databases import open_test_store

US_KEY = "us-simulator-key"
US_CREATED = sample_ids_for("us")["created"]
US_QUEUED = sample_ids_for("us")["in_queue"]
ACCOUNTS_FILE = """
[accounts.default]
base_url = "http://127.0.0.1:9"
api_key_env = "TEST_KEY_DEFAULT"

[accounts.us]
base_url = "http://127.0.0.1:9"
api_key_env = "TEST_KEY_US"

[routing]
default = "default"
slack_teams = { T0US = "us" }
slack_channels = { C0USOPS = "us", C0DEFAULT = "default" }
"""


@dataclass
class TwoAccounts:
    bot: SlackBot
    sim: Simulator

    def calls_of(self, account: str) -> list[str]:
        """The status lookups (not the queue checks) that reached ``account``."""
        return [
            call.request_id
            for call in self.sim.calls
            if call.account == account and call.request_id is not None
        ]


@contextlib.asynccontextmanager
async def _two_accounts(
    fake_slack: FakeSlack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store: WatchStore | None = None,
) -> AsyncGenerator[TwoAccounts]:
    app = create_app(
        SimulatorConfig(
            api_key=SIM_KEY,
            accounts=(SimulatedAccount(name="us", api_key=US_KEY),),
            processing_seconds=0,
        )
    )
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS_FILE, encoding="utf-8")
    monkeypatch.setenv("TEST_KEY_DEFAULT", SIM_KEY)
    monkeypatch.setenv("TEST_KEY_US", US_KEY)
    settings = bot_settings(fake_slack.url, lsq_accounts_file=str(path))
    keys = {"default": SIM_KEY, "us": US_KEY}
    clients = {
        # Refresh goes upstream at once (the refresh floor has its own tests)
        name: CaptureStatusClient(
            fast_options(refresh_floor_seconds=0.0),
            SecretStr(key),
            transport=in_process_transport(app),
        )
        for name, key in keys.items()
    }
    service = CaptureService(load_accounts(settings), clients, store=store)
    bot = build_slack_bot(settings, service, connection="HTTP", wall_clock=lambda: NOW)
    yield TwoAccounts(bot, app.state.simulator)
    assert await bot.in_flight.drain(5.0)
    await bot.jobs.close()
    for client in clients.values():
        await client.aclose()


@pytest.fixture
async def two(
    fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TwoAccounts]:
    async with _two_accounts(fake_slack, tmp_path, monkeypatch) as two:
        yield two


@pytest.fixture
async def two_watching(
    fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> AsyncIterator[tuple[TwoAccounts, WatchStore]]:
    async with (
        open_test_store(database_url) as store,
        _two_accounts(fake_slack, tmp_path, monkeypatch, store) as two,
    ):
        yield two, store


async def _ask(two: TwoAccounts, fake_slack: FakeSlack, text: str, **where: Any) -> dict[str, Any]:
    hook = f"cmd-{len(fake_slack.posts('/hooks/'))}-{where.get('channel_id', '')}"
    await dispatch(two.bot, command_body(text, response_url=fake_slack.hook_url(hook), **where))
    [answer] = await fake_slack.wait_for(f"/hooks/{hook}")
    assert_valid_message(answer.body)
    return answer.body


def _headers(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "header"]


def _context(message: dict[str, Any]) -> str:
    return json.dumps([b for b in message["blocks"] if b["type"] == "context"])


def _button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    elements = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    [button] = [e for e in elements if e["action_id"] == action_id]
    return button


async def test_a_channel_routed_to_an_account_answers_from_it(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    message = await _ask(two, fake_slack, US_CREATED, channel_id="C0USOPS")
    assert "Success" in _headers(message)[0]
    assert "account *us*" in _context(message)
    assert two.calls_of("us") == [US_CREATED]
    assert two.calls_of("default") == []


async def test_the_workspace_route_decides_when_the_channel_has_none(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    message = await _ask(two, fake_slack, US_CREATED, team_id="T0US", channel_id="C0ELSE")
    assert "Success" in _headers(message)[0]
    assert two.calls_of("us") == [US_CREATED]


async def test_a_channel_route_wins_over_the_workspace_route(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    message = await _ask(two, fake_slack, US_CREATED, team_id="T0US", channel_id="C0DEFAULT")
    assert "Not found" in _headers(message)[0]
    assert "account *default*" in _context(message)
    assert two.calls_of("default") == [US_CREATED]


async def test_without_any_route_the_default_account_answers(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    await _ask(two, fake_slack, US_CREATED, channel_id="C0ELSE")
    assert two.calls_of("us") == []


async def test_refresh_goes_back_to_the_account_of_its_card(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    first = await _ask(two, fake_slack, US_QUEUED, channel_id="C0USOPS")
    value = _button(first, REFRESH)["value"]
    target = CardTarget.decode(value)
    assert target is not None
    assert target.account == "us"
    # clicked where another account is routed: the card's own account still answers
    body = action_body(
        REFRESH, value, response_url=fake_slack.hook_url("r"), channel_id="C0DEFAULT"
    )
    await dispatch(two.bot, body)
    [answer] = await fake_slack.wait_for("/hooks/r")
    assert_valid_message(answer.body)
    assert "In-Queue" in _headers(answer.body)[0]
    assert two.calls_of("us") == [US_QUEUED, US_QUEUED]
    assert two.calls_of("default") == []


async def test_share_goes_back_to_the_account_of_its_card(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    first = await _ask(two, fake_slack, US_CREATED, channel_id="C0USOPS")
    value = _button(first, SHARE)["value"]
    body = action_body(SHARE, value, response_url=fake_slack.hook_url("s"), channel_id="C0ELSE")
    await dispatch(two.bot, body)
    [shared] = await fake_slack.wait_for("/hooks/s")
    assert shared.body["response_type"] == "in_channel"
    assert "Success" in _headers(shared.body)[0]
    assert "account *us*" in _context(shared.body)


async def test_a_button_of_an_account_no_longer_configured_is_explained(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    value = CardTarget(US_CREATED, (US_CREATED,), account="gone").encode()
    await dispatch(two.bot, action_body(REFRESH, value, response_url=fake_slack.hook_url("g")))
    [answer] = await fake_slack.wait_for("/hooks/g")
    assert_valid_message(answer.body)
    text = json.dumps(answer.body)
    assert "No such LeadSquared account here" in text
    assert "default, us" in text
    assert two.sim.calls == []


async def test_metrics_show_the_queue_of_every_account_the_workspace_reaches(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    message = await _ask(two, fake_slack, "metrics", channel_id="C0ELSE")
    text = json.dumps(message)
    assert "*default*" in text
    assert "*us*" in text
    assert {call.account for call in two.sim.calls} == {"default", "us"}


async def test_the_home_tab_shows_every_reachable_accounts_queue(
    two: TwoAccounts, fake_slack: FakeSlack
) -> None:
    event = event_body({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    await dispatch(two.bot, event, content_type="application/json")
    [published] = await fake_slack.wait_for("/api/views.publish")
    view = published.body["view"]
    assert_valid_home(view)
    text = json.dumps(view)
    assert "*default*" in text
    assert "*us*" in text
    assert "default: LeadSquared at 127.0.0.1; us: LeadSquared at 127.0.0.1" in text


async def test_an_id_of_another_account_is_not_watched_and_a_card_watches_on_its_account(
    two_watching: tuple[TwoAccounts, WatchStore], fake_slack: FakeSlack
) -> None:
    two, store = two_watching
    # the channel's account does not know the other account's id: answered, nothing watched
    answer = await _ask(two, fake_slack, f"watch {US_QUEUED}", channel_id="C0DEFAULT")
    assert "Not watched: No request with this id was found" in json.dumps(answer["blocks"])
    assert two.calls_of("default") == [US_QUEUED]
    assert await store.subscriptions("slack:T0ACME:U0ALICE") == []

    # a card of the us account watches on it, wherever Notify me is pressed
    card = await _ask(two, fake_slack, US_QUEUED, channel_id="C0USOPS")
    notify = _button(card, WATCH)
    hook = fake_slack.hook_url("notify-us")
    click = action_body(WATCH, notify["value"], response_url=hook, channel_id="C0DEFAULT")
    await dispatch(two.bot, click)
    [pressed] = await fake_slack.wait_for("/hooks/notify-us")
    assert "Watching" in pressed.body["text"]
    [watched] = await store.subscriptions("slack:T0ACME:U0ALICE")
    assert (watched.watch.key.account, watched.watch.key.request_id) == ("us", US_QUEUED)
