"""Watching from Slack: Notify me, ``watch``, ``watches`` (Stop), ``unwatch`` and ``threads``.

Every request is signed and goes through Bolt's real dispatch; the store is a real database
(each test that keeps watches runs on SQLite and on PostgreSQL); LeadSquared is the
simulator.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.actions import REFRESH, SHARE, STOP_WATCH, WATCH, CardTarget, StopTarget
from bot.http_server import bot_readiness
from shared.simulator import SAMPLES, Simulator
from shared.store import WatchKey, WatchStore, async_database_url, create_store_engine
from tests.bot.conftest import (
    NOW,
    BotFactory,
    Slack,
    assert_valid_message,
    buttons_of,
    dispatch,
    elements_of,
)
from tests.bot.fake_slack import TEAM_ID, FakeSlack, action_body, command_body
from tests.conftest import FakeClock
from tests.databases import open_test_store

IN_QUEUE = SAMPLES["in_queue"].request_id
ERROR = SAMPLES["error"].request_id
UNKNOWN_STATUS = SAMPLES["unknown_status"].request_id
CREATED = SAMPLES["created"].request_id
FAILED = SAMPLES["failure_invalid_input"].request_id
#: a well-formed RequestId the simulator has never heard of
NOBODY_KNOWS = "0f0e0d0c-0b0a-4909-8807-060504030201"
ALICE = f"slack:{TEAM_ID}:U0ALICE"
BOB = f"slack:{TEAM_ID}:U0BOB"


@pytest.fixture
def wall() -> FakeClock:
    """The watches' wall clock (epoch seconds), moved only by the test."""
    return FakeClock(NOW)


@pytest.fixture
async def store(database_url: str, wall: FakeClock) -> AsyncIterator[WatchStore]:
    async with open_test_store(database_url, clock=wall) as store:
        yield store


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


# --- Notify me -------------------------------------------------------------------------------


async def test_notify_me_is_on_every_card_that_can_still_change_and_on_no_final_one(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    slack = Slack(make_bot(), fake_slack)
    answer = await slack.command(f"{IN_QUEUE} {ERROR} {UNKNOWN_STATUS} {CREATED} {FAILED}")
    assert_valid_message(answer)
    watched = [CardTarget.decode(b["value"]) for b in buttons_of(answer, WATCH)]
    assert [t.request_id for t in watched if t is not None] == [IN_QUEUE, ERROR, UNKNOWN_STATUS]
    assert all(t is not None and t.account == "default" for t in watched)
    # a single card keeps its buttons, in order, with their action ids unchanged
    alone = await slack.command(IN_QUEUE)
    assert [e["action_id"] for e in elements_of(alone)] == [REFRESH, WATCH, SHARE]
    assert [b["text"]["text"] for b in buttons_of(alone, WATCH)] == ["Notify me"]
    final = await slack.command(CREATED)
    assert buttons_of(final, WATCH) == []


async def test_notify_me_watches_the_request_and_answers_only_the_person(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    card = await slack.command(IN_QUEUE)
    [notify] = buttons_of(card, WATCH)

    answer = await slack.press(WATCH, notify["value"])
    assert_valid_message(answer)
    assert answer["response_type"] == "ephemeral"
    assert answer["replace_original"] is False  # the card stays as it was
    assert "Watching" in answer["text"]
    assert "you will be told once it is final (for up to 12 h)" in _text(answer)
    assert "watches` lists the requests you watch" in _text(answer)

    [subscription] = await store.subscriptions(ALICE)
    assert subscription.kind == "slack"
    assert subscription.scope == f"slack:{TEAM_ID}"
    assert subscription.target == {"team": TEAM_ID, "user": "U0ALICE"}  # a DM only
    assert subscription.target_key == "dm"
    assert subscription.watch.key == WatchKey("default", "opportunity_capture", IN_QUEUE)
    assert subscription.watch.last_status == "In-Queue"


@pytest.mark.parametrize(
    ("thread_ts", "answered_in"),
    [(None, "1700000200.000300"), ("1700000150.000100", "1700000150.000100")],
    ids=["a message in the channel", "a reply in a thread"],
)
async def test_notify_me_on_a_card_in_a_channel_also_answers_in_its_thread(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    store: WatchStore,
    thread_ts: str | None,
    answered_in: str,
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    value = CardTarget(IN_QUEUE, (IN_QUEUE,), shared=True, account="default").encode()
    await slack.press(
        WATCH, value, ephemeral=False, message_ts="1700000200.000300", thread_ts=thread_ts
    )
    [subscription] = await store.subscriptions(ALICE)
    assert subscription.target == {
        "team": TEAM_ID,
        "user": "U0ALICE",
        "channel": "C0OPS",
        "thread_ts": answered_in,
    }
    assert subscription.target_key == f"thread:C0OPS:{answered_in}"


async def test_notify_me_on_a_request_that_became_final_meanwhile_answers_with_no_watch(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    value = CardTarget(CREATED, (CREATED,), account="default").encode()
    answer = await slack.press(WATCH, value)
    assert_valid_message(answer)
    assert "It is final already, so there is nothing to watch." in _text(answer)
    assert await store.subscriptions(ALICE) == []


async def test_a_notify_me_value_that_is_not_ours_watches_nothing(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore, sim: Simulator
) -> None:
    bot = make_bot(store=store)
    for value in ["", "nope", json.dumps({"id": "not-a-guid"}), json.dumps([IN_QUEUE])]:
        body = action_body(WATCH, value, response_url=fake_slack.hook_url("junk"))
        assert (await dispatch(bot, body)).status == 200
    assert await bot.in_flight.drain(5)
    assert fake_slack.posts("/hooks/junk") == []
    assert sim.calls == []
    assert await store.subscriptions(ALICE) == []


# --- watch <id> … ----------------------------------------------------------------------------


async def test_watch_answers_each_id_watching_only_those_that_can_still_change(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    answer = await slack.command(f"watch {IN_QUEUE} {ERROR} {CREATED} {NOBODY_KNOWS}")
    assert_valid_message(answer)
    assert answer["response_type"] == "ephemeral"
    sections = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    assert len(sections) == 4
    assert sections[0].startswith(f"🔔 *Watching* `{IN_QUEUE}`")
    assert sections[1].startswith(f"🔔 *Watching* `{ERROR}`")
    assert f"`{CREATED}`" in sections[2]
    assert "It is final already" in sections[2]
    assert f"`{NOBODY_KNOWS}`" in sections[3]
    assert "Not watched: No request with this id was found" in sections[3]
    watched = {s.watch.key.request_id for s in await store.subscriptions(ALICE)}
    assert watched == {IN_QUEUE, ERROR}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "watch " + " ".join(f"{n:08x}-0000-4000-8000-000000000000" for n in range(11)),
            "11 RequestIds were given; at most 10 are watched with one request",
        ),
        ("watch", "RequestId"),
        ("watch not-an-id", "RequestId"),
        ("unwatch", "RequestId"),
    ],
    ids=["over the cap", "no id", "not an id", "unwatch without an id"],
)
async def test_ids_the_service_refuses_are_answered_in_the_ack_with_nothing_asked(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    store: WatchStore,
    sim: Simulator,
    text: str,
    said: str,
) -> None:
    bot = make_bot(store=store)
    response = await dispatch(bot, command_body(text, response_url=fake_slack.hook_url("x")))
    answer = json.loads(response.body)
    assert answer["response_type"] == "ephemeral"
    assert_valid_message(answer)
    assert said in answer["text"] + _text(answer)
    assert await bot.in_flight.drain(5)
    assert sim.calls == []
    assert fake_slack.posts("/hooks/x") == []
    assert await store.subscriptions(ALICE) == []


async def test_the_same_request_watched_by_two_people_is_one_watch_and_both_are_told(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    alice = await slack.command(f"watch {IN_QUEUE}")
    bob = await slack.command(f"watch {IN_QUEUE}", user="U0BOB")
    again = await slack.command(f"watch {IN_QUEUE}")
    assert "Watching: you will be told once it is final" in _text(alice)
    assert "Someone else is watching this request too; you will both be told" in _text(bob)
    assert "You are already watching this request" in _text(again)
    [mine] = await store.subscriptions(ALICE)
    [theirs] = await store.subscriptions(BOB)
    assert mine.watch.id == theirs.watch.id
    watch = await store.watch_of(WatchKey("default", "opportunity_capture", IN_QUEUE))
    assert watch is not None
    assert watch.id == mine.watch.id


async def test_a_person_at_their_limit_is_told_how_to_make_room(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store, watches_per_user=1), fake_slack)
    await slack.command(f"watch {IN_QUEUE}")
    answer = await slack.command(f"watch {ERROR} {CREATED}")
    assert_valid_message(answer)
    text = _text(answer)
    assert "Too many watches" in text
    assert "You already follow 1 capture requests, the most one person may follow" in text
    assert "It is final already" in text  # a final one needs no room: answered all the same
    assert [s.watch.key.request_id for s in await store.subscriptions(ALICE)] == [IN_QUEUE]


async def test_a_workspace_at_its_limit_is_told_who_can_raise_it(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store, watches_per_workspace=1), fake_slack)
    await slack.command(f"watch {IN_QUEUE}")
    answer = await slack.command(f"watch {ERROR}", user="U0BOB")
    assert "This workspace already follows 1 capture requests" in _text(answer)
    assert "WATCHES_PER_WORKSPACE" in _text(answer)
    assert await store.subscriptions(BOB) == []


# --- watches, Stop, unwatch ------------------------------------------------------------------


async def test_watches_lists_mine_with_a_stop_button_each_and_stop_stops_only_that_one(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore, wall: FakeClock
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    await slack.command(f"watch {IN_QUEUE}")
    wall.advance(1)
    await slack.command(f"watch {ERROR}")
    await slack.command(f"watch {IN_QUEUE}", user="U0BOB")

    listed = await slack.command("watches")
    assert_valid_message(listed)
    assert listed["text"] == "You watch 2 capture requests."
    stops = [StopTarget.decode(b["value"]) for b in buttons_of(listed, STOP_WATCH)]
    assert [s.request_id for s in stops if s is not None] == [ERROR, IN_QUEUE]  # newest first
    assert "by DM" in _text(listed)

    in_queue_stop = buttons_of(listed, STOP_WATCH)[1]["value"]
    after = await slack.press(STOP_WATCH, in_queue_stop)
    assert_valid_message(after)
    assert after["replace_original"] is True
    assert f"Stopped watching {IN_QUEUE}" in after["text"]
    assert [StopTarget.decode(b["value"]) for b in buttons_of(after, STOP_WATCH)] == [stops[0]]
    assert [s.watch.key.request_id for s in await store.subscriptions(ALICE)] == [ERROR]
    # Bob still watches it: the watch goes on for him
    [bobs] = await store.subscriptions(BOB)
    assert bobs.watch.active

    # a Stop button of someone else's list stops nothing of theirs
    other = await slack.press(STOP_WATCH, buttons_of(after, STOP_WATCH)[0]["value"], user="U0BOB")
    assert "was no longer watched" in other["text"]
    assert [s.watch.key.request_id for s in await store.subscriptions(ALICE)] == [ERROR]


async def test_watches_when_there_are_none_says_how_to_start_one(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    answer = await slack.command("watches")
    assert_valid_message(answer)
    assert "You are not watching any capture request" in answer["text"]
    assert "Notify me" in _text(answer)


async def test_unwatch_stops_a_watch_and_says_when_there_was_none(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    await slack.command(f"watch {IN_QUEUE}")
    answer = await slack.command(f"unwatch {IN_QUEUE} {ERROR}")
    assert_valid_message(answer)
    assert f"Stopped watching `{IN_QUEUE}`" in answer["text"]
    assert f"You were not watching `{ERROR}`" in answer["text"]
    assert await store.subscriptions(ALICE) == []
    watch = await store.watch_of(WatchKey("default", "opportunity_capture", IN_QUEUE))
    assert watch is None  # nobody follows it any more: it ended


# --- threads on|off --------------------------------------------------------------------------


async def test_threads_is_a_setting_of_each_channel(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    slack = Slack(make_bot(store=store), fake_slack)
    shown = await slack.command("threads")
    assert "Thread answers are on in this channel" in _text(shown)

    off = await slack.command("threads off")
    assert_valid_message(off)
    assert "Done" in _text(off)
    assert "Thread answers are off in this channel" in _text(off)
    assert await store.channel_threads(f"slack:{TEAM_ID}", "C0OPS") is False
    assert await store.channel_threads(f"slack:{TEAM_ID}", "C0OTHER") is True

    unclear = await slack.command("threads maybe")
    assert "Say `on` or `off`" in _text(unclear)
    assert "are off" in _text(unclear)

    await slack.command("threads on")
    assert await store.channel_threads(f"slack:{TEAM_ID}", "C0OPS") is True

    in_a_dm = await slack.command("threads off", channel="D0ALICE")
    assert "Thread answers are a channel setting" in in_a_dm["text"]


# --- the store down --------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(params=["sqlite", "postgresql"])
async def down_store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[WatchStore]:
    """A store whose database does not answer: a file in a missing folder, a closed port."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'missing' / 'watches.db'}"
    else:
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/watches"
    store = WatchStore(create_store_engine(async_database_url(url)))
    yield store
    await store.aclose()


async def test_with_the_store_down_watching_says_so_while_lookups_keep_working(
    make_bot: BotFactory, fake_slack: FakeSlack, down_store: WatchStore, sim: Simulator
) -> None:
    bot = make_bot(store=down_store)
    slack = Slack(bot, fake_slack)
    answer = await slack.command(f"watch {IN_QUEUE} {ERROR}")
    assert_valid_message(answer)
    assert "capture-status cannot watch right now" in _text(answer)
    # said once for all, not once per id
    assert answer["blocks"][0]["block_id"] == "notice-what"
    assert ERROR not in _text(answer)
    assert [c.request_id for c in sim.calls if c.request_id] == [IN_QUEUE]  # no more asked

    card = await slack.command(IN_QUEUE)  # a lookup does not need the store
    assert "In-Queue" in card["text"]
    [notify] = buttons_of(card, WATCH)
    pressed = await slack.press(WATCH, notify["value"])
    assert "cannot watch right now" in _text(pressed)
    for text in ("watches", f"unwatch {IN_QUEUE}", "threads off"):
        assert "cannot watch right now" in _text(await slack.command(text))

    await bot.identity.verify()
    status, body = await bot_readiness(bot).answer()
    assert status == 503
    assert body["waiting_for"] == {"store": "the database of watches does not answer"}


async def test_with_the_store_up_the_app_is_ready(make_bot: BotFactory, store: WatchStore) -> None:
    bot = make_bot(store=store)
    await bot.identity.verify()
    assert await bot_readiness(bot).answer() == (200, {"status": "ready", "in_flight": 0})
