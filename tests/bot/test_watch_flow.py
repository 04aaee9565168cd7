"""From Notify me to the DM: a watched request that becomes final, told once, through the
watcher of the bot process.

The simulator's clock and the watches' clock are moved by the test (no sleeps); each step
of the watcher (``Watcher.step``) claims the due watches, checks them on the simulator and
delivers the notices through the app's notifier to Slack's stand-in on loopback. Every test
runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette

from bot.actions import SHARE, WATCH
from shared import Watcher
from shared.simulator import Simulator, SimulatorConfig, create_app
from shared.store import WatchStore
from tests.bot.conftest import (
    NOW,
    BotFactory,
    Pacing,
    Slack,
    assert_valid_message,
    buttons_of,
)
from tests.bot.fake_slack import TEAM_ID, FakeSlack, dm_channel
from tests.conftest import SIM_KEY, FakeClock
from tests.databases import open_test_store

#: how long a submitted capture stays In-Queue on the simulator
PROCESSING_SECONDS = 120.0
EMAIL = "lena.berg@example.se"
CAPTURE_BODY = {
    "LeadDetails": [{"Attribute": "EmailAddress", "Value": EMAIL}],
    "Opportunity": {"OpportunityEventCode": 12000, "Fields": [{"SchemaName": "mx_Custom_1"}]},
}
#: the ts of the card Alice shared in #ops
SHARED_TS = "1700000300.000400"
ALICE = f"slack:{TEAM_ID}:U0ALICE"
BOB = f"slack:{TEAM_ID}:U0BOB"


@pytest.fixture
def sim_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim_app(sim_clock: FakeClock) -> Starlette:
    """The simulator on a clock the test moves: submissions stay In-Queue for two minutes."""
    return create_app(
        SimulatorConfig(api_key=SIM_KEY, processing_seconds=PROCESSING_SECONDS, clock=sim_clock)
    )


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def store(database_url: str, wall: FakeClock) -> AsyncIterator[WatchStore]:
    async with open_test_store(database_url, clock=wall) as store:
        yield store


class World:
    """Both clocks, moved together, and the watcher of the bot process."""

    def __init__(self, watcher: Watcher, wall: FakeClock, sim_clock: FakeClock) -> None:
        self.watcher = watcher
        self.wall = wall
        self.sim_clock = sim_clock

    async def run(self, seconds: float, *, every: float = 15.0) -> None:
        """Let ``seconds`` pass, one watcher step every ``every`` seconds."""
        passed = 0.0
        while passed < seconds:
            self.wall.advance(every)
            self.sim_clock.advance(every)
            passed += every
            await self.watcher.step()


def _posts(fake: FakeSlack) -> list[dict[str, Any]]:
    return [r.body for r in fake.posts("/api/chat.postMessage")]


def _headers(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "header"]


async def _share_and_notify(slack: Slack, request_id: str) -> None:
    """Alice looks the request up, shares the card in #ops and presses its Notify me."""
    card = await slack.command(request_id)
    assert "In-Queue" in card["text"]
    [share] = buttons_of(card, SHARE)
    shared = await slack.press(SHARE, share["value"])
    assert shared["response_type"] == "in_channel"
    [notify] = buttons_of(shared, WATCH)
    answer = await slack.press(WATCH, notify["value"], ephemeral=False, message_ts=SHARED_TS)
    assert "Watching" in answer["text"]


@pytest.mark.parametrize("threads", [True, False], ids=["threads on", "threads off"])
async def test_a_watched_request_that_becomes_final_is_told_once_by_dm_and_in_the_thread(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    store: WatchStore,
    sim: Simulator,
    wall: FakeClock,
    sim_clock: FakeClock,
    threads: bool,
) -> None:
    request_id = sim.submit(CAPTURE_BODY)
    bot = make_bot(store=store)
    slack = Slack(bot, fake_slack)
    await _share_and_notify(slack, request_id)
    bob = await slack.command(f"watch {request_id}", user="U0BOB")
    assert "you will both be told" in json.dumps(bob["blocks"])
    if not threads:
        await slack.command("threads off")
    world = World(
        Watcher(bot.service, store, notifiers={"slack": bot.notifier}, clock=wall), wall, sim_clock
    )

    await world.run(PROCESSING_SECONDS - 15)
    assert _posts(fake_slack) == []  # still In-Queue: nobody told yet
    assert world.watcher.stats.checks > 0

    await world.run(30)
    posts = _posts(fake_slack)
    expected = [("D0ALICE", None), ("C0OPS", SHARED_TS), ("D0BOB", None)]
    if not threads:
        expected.remove(("C0OPS", SHARED_TS))
    assert sorted((p["channel"], p.get("thread_ts")) for p in posts) == sorted(expected)
    for post in posts:
        assert_valid_message(post)
        assert post["text"].startswith(f"🔔 Capture request {request_id} is final: Success")
        assert _headers(post) == [f"✅ Success · {request_id}"]
        assert EMAIL not in json.dumps(post)  # the card is masked, wherever it goes
    if threads:
        [thread] = [p for p in posts if p["channel"] == "C0OPS"]
        assert "<@U0ALICE>" in json.dumps(thread["blocks"])

    # told once: later steps send nothing more, and every subscription is done
    await world.run(600, every=60)
    assert len(_posts(fake_slack)) == len(expected)
    for principal in (ALICE, BOB):
        assert await store.subscriptions(principal) == []
        [done] = await store.subscriptions(principal, states=("sent",))
        assert done.watch.state == "final"
        assert done.detail == (None if threads or principal == BOB else "thread: off")


async def test_a_dm_the_person_closed_fails_is_logged_and_is_never_tried_again(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    store: WatchStore,
    sim: Simulator,
    wall: FakeClock,
    sim_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    request_id = sim.submit(CAPTURE_BODY)
    bot = make_bot(store=store)
    slack = Slack(bot, fake_slack)
    await slack.command(f"watch {request_id}")
    fake_slack.refuse["conversations.open"] = "cannot_dm_bot"
    world = World(
        Watcher(bot.service, store, notifiers={"slack": bot.notifier}, clock=wall), wall, sim_clock
    )
    with caplog.at_level(logging.WARNING):
        await world.run(PROCESSING_SECONDS + 20)
    assert len(fake_slack.posts("/api/conversations.open")) == 1
    [failed] = await store.subscriptions(ALICE, states=("failed",))
    assert failed.detail == "dm: cannot_dm_bot"
    assert "Slack refused the DM of a watch notice" in caplog.text
    assert f"could not tell subscriber {failed.id} about {request_id}" in caplog.text
    assert world.watcher.stats.notices_failed == 1

    await world.run(3600, every=300)  # an hour later: never retried
    assert len(fake_slack.posts("/api/conversations.open")) == 1
    assert _posts(fake_slack) == []


async def test_a_channel_the_app_left_still_tells_the_person(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    store: WatchStore,
    sim: Simulator,
    wall: FakeClock,
    sim_clock: FakeClock,
) -> None:
    request_id = sim.submit(CAPTURE_BODY)
    bot = make_bot(store=store)
    await _share_and_notify(Slack(bot, fake_slack), request_id)
    fake_slack.refuse_channels["C0OPS"] = "not_in_channel"
    world = World(
        Watcher(bot.service, store, notifiers={"slack": bot.notifier}, clock=wall), wall, sim_clock
    )
    await world.run(PROCESSING_SECONDS + 20)
    await world.run(3600, every=300)
    assert [p["channel"] for p in _posts(fake_slack)] == [dm_channel("U0ALICE"), "C0OPS"]
    [sent] = await store.subscriptions(ALICE, states=("sent",))
    assert sent.detail == "thread: not_in_channel"


async def test_a_rate_limited_notice_is_sent_after_slacks_retry_after_once(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    store: WatchStore,
    sim: Simulator,
    wall: FakeClock,
    sim_clock: FakeClock,
    pacing: Pacing,
) -> None:
    request_id = sim.submit(CAPTURE_BODY)
    bot = make_bot(store=store)
    await Slack(bot, fake_slack).command(f"watch {request_id}")
    fake_slack.rate_limited["chat.postMessage"] = 45
    watcher = Watcher(bot.service, store, notifiers={"slack": bot.notifier}, clock=wall)
    world = World(watcher, wall, sim_clock)
    await world.run(PROCESSING_SECONDS)  # final at the last step: told at once, refused
    # then left alone until Slack's Retry-After (45 s) has passed
    await world.run(30)
    assert len(fake_slack.posts("/api/chat.postMessage")) == 1
    assert watcher.stats.notices_retried == 1
    [due] = await store.subscriptions(ALICE, states=("due",))
    assert due.detail == "dm: ratelimited"

    del fake_slack.rate_limited["chat.postMessage"]
    pacing.clock.advance(45)  # the pacer held that DM for Retry-After on its own clock
    await world.run(15)
    assert len(fake_slack.posts("/api/chat.postMessage")) == 2  # the refused one, then sent
    [sent] = await store.subscriptions(ALICE, states=("sent",))
    assert sent.attempts == 2
    await world.run(600, every=60)
    assert len(fake_slack.posts("/api/chat.postMessage")) == 2


async def test_a_watch_that_expires_says_still_not_final(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    store: WatchStore,
    sim: Simulator,
    wall: FakeClock,
    sim_clock: FakeClock,
) -> None:
    request_id = sim.submit(CAPTURE_BODY)
    bot = make_bot(store=store, watch_expiry_hours=0.01)  # 36 s
    await Slack(bot, fake_slack).command(f"watch {request_id}")
    world = World(
        Watcher(bot.service, store, notifiers={"slack": bot.notifier}, clock=wall), wall, sim_clock
    )
    await world.run(60)
    [dm] = _posts(fake_slack)
    assert_valid_message(dm)
    assert "is still not final after" in dm["text"]
    assert _headers(dm) == [f"⏳ In-Queue · {request_id}"]
    assert WATCH in json.dumps(dm["blocks"])  # watch it again from the card
