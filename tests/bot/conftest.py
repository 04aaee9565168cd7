"""Fixtures for the Slack app: Slack's side on loopback, a gated simulator, a built bot."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app import SlackBot, build_slack_bot
from bot.notify import Pacer
from bot.triage_jobs import TriageOptions
from shared.accounts import load_accounts
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.runtime import watch_settings
from shared.service.capture_service import CaptureService
from shared.settings import Settings
from shared.simulator import SimulatorConfig, create_app
from shared.simulator.server import serve_simulator
from shared.store import WatchStore
from tests.bot.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    action_body,
    command_body,
    signed_headers,
)
from tests.conftest import SIM_KEY, FakeClock, fast_options

#: the wall clock every test bot sees (2023-11-14 22:13:20 UTC)
NOW = 1_700_000_000.0
_ENV_PREFIXES = ("SLACK_", "LSQ_", "MCP_", "REDIS_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test, never from the developer's shell."""
    for name in list(os.environ):
        if name.upper().startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture
def sim_app() -> Starlette:
    """The simulator, with submitted captures final at once (seeded samples as documented)."""
    return create_app(SimulatorConfig(api_key=SIM_KEY, processing_seconds=0))


class Gate:
    """Holds every upstream request at the door until released.

    It wraps the simulator (it does not imitate LeadSquared): a test closes it to prove that
    Slack's acknowledgement does not wait for the lookup, then opens it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.entered = asyncio.Event()
        self._open = asyncio.Event()
        self._open.set()
        self.held = 0

    def close(self) -> None:
        self._open.clear()
        self.entered.clear()

    def open(self) -> None:
        self._open.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._open.is_set():
            self.held += 1
            self.entered.set()
            await self._open.wait()
        await self._app(scope, receive, send)


@pytest.fixture
def gate(sim_app: Starlette) -> Gate:
    return Gate(sim_app)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    async with serve_simulator(fake.app) as url:
        fake.url = url
        yield fake


@pytest.fixture
async def lookup_client(gate: Gate) -> AsyncIterator[CaptureStatusClient]:
    # Refresh goes upstream at once here: the refresh floor (a repeat within seconds is
    # answered from the cache) has its own tests in tests/shared/lsq/test_client.py.
    async with CaptureStatusClient(
        fast_options(refresh_floor_seconds=0.0),
        SecretStr(SIM_KEY),
        transport=in_process_transport(gate),
    ) as client:
        yield client
        gate.open()  # a failed test must not leave a request held while the client closes


def bot_settings(slack_url: str, **overrides: Any) -> Settings:
    """Settings of a test bot: Slack's side at ``slack_url``, LeadSquared credentials set."""
    values: dict[str, Any] = {
        "slack_bot_token": SecretStr(BOT_TOKEN),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "slack_api_url": slack_url,
        "lsq_api_key": SecretStr(SIM_KEY),
        "lsq_region": "in21",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # pyright: ignore[reportCallIssue]


BotFactory = Callable[..., SlackBot]


class Pacing:
    """The notifier's pace on a clock that moves only when the pacer "sleeps": each wait is
    recorded, none is slept."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)

    def pacer(self, **options: Any) -> Pacer:
        return Pacer(clock=self.clock, sleep=self.sleep, **options)


@pytest.fixture
def pacing() -> Pacing:
    return Pacing()


@pytest.fixture
async def make_bot(
    fake_slack: FakeSlack, lookup_client: CaptureStatusClient, pacing: Pacing
) -> AsyncIterator[BotFactory]:
    """Build bots on the test client; every answer they started is finished afterwards, and
    every triage job still running is stopped.

    ``store=`` gives the bot's service a store of watches (its clock is the watches' clock);
    notifications are paced on :class:`Pacing`'s clock, never slept.
    """
    made: list[SlackBot] = []

    def factory(
        *,
        client: CaptureStatusClient | None = None,
        triage: TriageOptions | None = None,
        store: WatchStore | None = None,
        pacer: Pacer | None = None,
        **overrides: Any,
    ) -> SlackBot:
        settings = bot_settings(fake_slack.url, **overrides)
        # the account the settings describe, answered by the test's client
        accounts = load_accounts(settings, environ={})
        service = CaptureService(
            accounts,
            {accounts.default: client or lookup_client},
            mask_pii=settings.lsq_mask_pii,
            store=store,
            watch_settings=watch_settings(settings),
            clock=store.clock if store is not None else time.time,
        )
        bot = build_slack_bot(
            settings,
            service,
            connection="HTTP",
            wall_clock=lambda: NOW,
            triage=triage,
            pacer=pacer or pacing.pacer(),
        )
        made.append(bot)
        return bot

    yield factory
    for bot in made:
        assert await bot.in_flight.drain(5.0), "an answer was still in flight after the test"
        await bot.jobs.close()


async def dispatch(
    bot: SlackBot,
    body: str,
    *,
    content_type: str = "application/x-www-form-urlencoded",
    headers: Mapping[str, str] | None = None,
) -> BoltResponse:
    """Send a signed request through Bolt's real dispatch (signature check included)."""
    all_headers = {"content-type": content_type, **signed_headers(body), **(headers or {})}
    request = AsyncBoltRequest(body=body, headers={k: [v] for k, v in all_headers.items()})
    return await bot.app.async_dispatch(request)


def assert_valid_blocks(blocks: list[dict[str, Any]], *, max_blocks: int = 50) -> None:
    """Every block parses with slack-sdk's models and survives the round trip unchanged."""
    assert 0 < len(blocks) <= max_blocks
    for block in blocks:
        parsed = Block.parse(block)  # pyright: ignore[reportUnknownMemberType]
        assert parsed is not None, block
        # to_dict() validates lengths and shapes
        assert parsed.to_dict() == block  # pyright: ignore[reportUnknownMemberType]


def assert_valid_message(message: Mapping[str, Any]) -> None:
    """A message has a top-level text fallback and valid blocks."""
    text = message.get("text")
    assert isinstance(text, str)
    assert text.strip()
    blocks = message.get("blocks")
    assert isinstance(blocks, list)
    assert_valid_blocks(blocks)  # pyright: ignore[reportUnknownArgumentType]


def assert_valid_home(view: Mapping[str, Any]) -> None:
    """An App Home view validates as a slack-sdk View and round-trips."""
    assert view["type"] == "home"
    assert_valid_blocks(view["blocks"], max_blocks=100)
    assert View(**view).to_dict() == dict(view)  # pyright: ignore[reportUnknownMemberType]


class Slack:
    """A person typing commands and pressing buttons, and what Slack's side received."""

    def __init__(self, bot: SlackBot, fake: FakeSlack) -> None:
        self.bot = bot
        self.fake = fake
        self._hooks = 0

    async def command(
        self, text: str, *, user: str = "U0ALICE", channel: str = "C0OPS"
    ) -> dict[str, Any]:
        """The answer to ``/capture-status <text>``: in the ack, else through response_url."""
        self._hooks += 1
        hook = f"c{self._hooks}"
        body = command_body(
            text, response_url=self.fake.hook_url(hook), user_id=user, channel_id=channel
        )
        response = await dispatch(self.bot, body)
        assert response.status == 200
        if response.body:
            acked: dict[str, Any] = json.loads(response.body)
            if acked.get("blocks"):
                return acked
        [answer] = await self.fake.wait_for(f"/hooks/{hook}")
        return answer.body

    async def press(
        self, action_id: str, value: str, *, user: str = "U0ALICE", **place: Any
    ) -> dict[str, Any]:
        """The answer to pressing a button (through the click's own response_url)."""
        self._hooks += 1
        hook = f"b{self._hooks}"
        body = action_body(
            action_id, value, response_url=self.fake.hook_url(hook), user_id=user, **place
        )
        assert (await dispatch(self.bot, body)).status == 200
        [answer] = await self.fake.wait_for(f"/hooks/{hook}")
        return answer.body


def elements_of(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every interactive element of a message: actions blocks' and sections' accessories."""
    return [
        element
        for block in message["blocks"]
        for element in (
            block.get("elements", []) if block["type"] == "actions" else [block.get("accessory")]
        )
        if element
    ]


def buttons_of(message: Mapping[str, Any], action_id: str) -> list[dict[str, Any]]:
    """The buttons of a message with this action id, in order."""
    return [e for e in elements_of(message) if e.get("action_id") == action_id]


__all__ = [
    "NOW",
    "BotFactory",
    "Gate",
    "Pacing",
    "Slack",
    "assert_valid_blocks",
    "assert_valid_home",
    "assert_valid_message",
    "bot_settings",
    "buttons_of",
    "dispatch",
    "elements_of",
]
