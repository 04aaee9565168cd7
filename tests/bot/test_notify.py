"""The Slack notifier: a DM to the person, the thread reply, Slack's refusals, and the pace.

Slack's side is the loopback stand-in (tests/bot/fake_slack.py); the notices carry views the
service looked up on the simulator. No test sleeps: the pacer's clock moves only when it
"sleeps" (:class:`~tests.bot.conftest.Pacing`).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import SHARE, WATCH
from bot.app import SlackBot
from bot.notify import GONE_ERRORS, Pacer, SlackNotifier
from shared import LookupView, WatchNotice
from shared.simulator import SAMPLES
from shared.store import WatchStore
from tests.bot.conftest import NOW, BotFactory, Pacing, assert_valid_message
from tests.bot.fake_slack import TEAM_ID, FakeSlack, dm_channel
from tests.conftest import FakeClock
from tests.databases import open_test_store

CREATED = SAMPLES["created"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id
THREAD = "1700000200.000300"
DM_ONLY = {"team": TEAM_ID, "user": "U0ALICE"}
IN_A_THREAD = {**DM_ONLY, "channel": "C0OPS", "thread_ts": THREAD}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[WatchStore]:
    async with open_test_store(database_url, clock=FakeClock(NOW)) as store:
        yield store


async def _view(bot: SlackBot, request_id: str = CREATED) -> LookupView:
    [view] = await bot.service.look_up([request_id], shared=True)
    return view


def _notice(
    view: LookupView | None,
    *,
    target: dict[str, Any],
    subscriber_id: int = 7,
    end: str = "final",
    request_id: str = CREATED,
) -> WatchNotice:
    headline = (
        f"Capture request {request_id} is final: Success (after 3 min watching)."
        if end == "final"
        else f"Capture request {request_id} is still not final after 12 h (last status "
        "In-Queue); capture-status stopped watching it. Look it up again, or watch it again."
    )
    return WatchNotice(
        subscriber_id=subscriber_id,
        kind="slack",
        principal=f"slack:{TEAM_ID}:{target['user']}",
        target=target,
        request_id=request_id,
        account="default",
        family="opportunity_capture",
        end=end,  # pyright: ignore[reportArgumentType]
        status="Success" if end == "final" else "In-Queue",
        view=view,
        started_at=NOW - 180,
        ended_at=NOW,
        attempts=1,
        headline=headline,
    )


def _posts(fake: FakeSlack) -> list[dict[str, Any]]:
    return [r.body for r in fake.posts("/api/chat.postMessage")]


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def _action_ids(message: dict[str, Any]) -> list[str]:
    return [
        e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]


async def test_a_notice_reaches_the_person_by_dm_with_the_final_card(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    result = await bot.notifier.deliver(_notice(await _view(bot), target=DM_ONLY))
    assert (result.outcome, result.detail) == ("sent", None)
    [opened] = [r.body for r in fake_slack.posts("/api/conversations.open")]
    assert opened["users"] == "U0ALICE"
    [dm] = _posts(fake_slack)
    assert dm["channel"] == dm_channel("U0ALICE")
    assert "thread_ts" not in dm
    assert dm["text"] == f"🔔 Capture request {CREATED} is final: Success (after 3 min watching)."
    assert_valid_message(dm)
    headers = [b["text"]["text"] for b in dm["blocks"] if b["type"] == "header"]
    assert headers == [f"✅ Success · {CREATED}"]
    # a final card: nothing to refresh or watch, and a DM has no channel to share to
    assert not {WATCH, SHARE} & set(_action_ids(dm))
    # the bot token went with it (and the DM channel is remembered: opened once)
    assert (
        fake_slack.posts("/api/chat.postMessage")[0]
        .headers["authorization"]
        .startswith("Bearer xoxb-")
    )
    await bot.notifier.deliver(_notice(await _view(bot), target=DM_ONLY, subscriber_id=8))
    assert len(fake_slack.posts("/api/conversations.open")) == 1
    assert len(_posts(fake_slack)) == 2


async def test_a_watch_that_expired_says_so_and_keeps_notify_me_on_the_card(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    view = await _view(bot, IN_QUEUE)
    result = await bot.notifier.deliver(
        _notice(view, target=DM_ONLY, end="expired", request_id=IN_QUEUE)
    )
    assert result.outcome == "sent"
    [dm] = _posts(fake_slack)
    assert_valid_message(dm)
    assert "is still not final after 12 h" in dm["text"]
    assert WATCH in _action_ids(dm)


async def test_a_notice_without_a_view_says_how_to_look_it_up(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    result = await bot.notifier.deliver(_notice(None, target=DM_ONLY, end="expired"))
    assert result.outcome == "sent"
    [dm] = _posts(fake_slack)
    assert_valid_message(dm)
    assert f"Look it up again with `/capture-status {CREATED}`" in _text(dm)


async def test_a_watch_started_in_a_channel_also_answers_in_its_thread_naming_the_person(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    bot = make_bot(store=store)
    result = await bot.notifier.deliver(_notice(await _view(bot), target=IN_A_THREAD))
    assert (result.outcome, result.detail) == ("sent", None)
    dm, thread = _posts(fake_slack)
    assert dm["channel"] == dm_channel("U0ALICE")
    assert (thread["channel"], thread["thread_ts"]) == ("C0OPS", THREAD)
    assert_valid_message(thread)
    first = thread["blocks"][0]
    assert first["type"] == "section"
    assert first["text"]["text"].startswith(f"🔔 <@U0ALICE> Capture request {CREATED} is final")
    assert "<@U0ALICE>" not in _text(dm)


async def test_a_channel_that_turned_threads_off_gets_no_thread_answer(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    bot = make_bot(store=store)
    await store.set_channel_threads(f"slack:{TEAM_ID}", "C0OPS", False)
    result = await bot.notifier.deliver(_notice(await _view(bot), target=IN_A_THREAD))
    assert (result.outcome, result.detail) == ("sent", "thread: off")
    [dm] = _posts(fake_slack)
    assert dm["channel"] == dm_channel("U0ALICE")


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("conversations.open", "user_not_found"),
        ("conversations.open", "cannot_dm_bot"),
        ("conversations.open", "user_disabled"),
        ("conversations.open", "account_inactive"),
        ("conversations.open", "missing_scope"),
        ("chat.postMessage", "messages_tab_disabled"),
        ("chat.postMessage", "channel_not_found"),
        ("chat.postMessage", "some_new_refusal"),
    ],
)
async def test_a_dm_slack_refuses_for_good_fails_and_is_logged(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
    method: str,
    code: str,
) -> None:
    bot = make_bot()
    fake_slack.refuse[method] = code
    with caplog.at_level(logging.WARNING, logger="bot.notify"):
        result = await bot.notifier.deliver(_notice(await _view(bot), target=DM_ONLY))
    assert (result.outcome, result.detail) == ("failed", f"dm: {code}")
    assert f"Slack refused the DM of a watch notice (subscriber 7, {code})" in caplog.text
    assert "xoxb-" not in caplog.text


def test_every_answer_the_issue_names_fails_for_good() -> None:
    named = {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "user_not_found",
        "cannot_dm_bot",
        "account_inactive",
        "user_disabled",
        "messages_tab_disabled",
    }
    assert named <= GONE_ERRORS


@pytest.mark.parametrize("code", ["not_in_channel", "is_archived", "channel_not_found"])
async def test_a_channel_the_app_left_fails_the_thread_answer_but_the_person_is_told(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore, code: str
) -> None:
    bot = make_bot(store=store)
    fake_slack.refuse_channels["C0OPS"] = code
    result = await bot.notifier.deliver(_notice(await _view(bot), target=IN_A_THREAD))
    assert (result.outcome, result.detail) == ("sent", f"thread: {code}")
    fake_slack.refuse_channels[dm_channel("U0ALICE")] = "messages_tab_disabled"
    again = await bot.notifier.deliver(
        _notice(await _view(bot), target=IN_A_THREAD, subscriber_id=9)
    )
    assert again.outcome == "failed"
    assert again.detail == f"dm: messages_tab_disabled; thread: {code}"


async def test_slack_rate_limiting_is_retried_after_its_retry_after_and_paced_meanwhile(
    make_bot: BotFactory, fake_slack: FakeSlack, pacing: Pacing
) -> None:
    bot = make_bot()
    fake_slack.rate_limited["chat.postMessage"] = 7
    result = await bot.notifier.deliver(_notice(await _view(bot), target=DM_ONLY))
    assert (result.outcome, result.detail, result.retry_after) == ("retry", "dm: ratelimited", 7.0)

    del fake_slack.rate_limited["chat.postMessage"]
    again = await bot.notifier.deliver(_notice(await _view(bot), target=DM_ONLY))
    assert again.outcome == "sent"
    # that conversation was not posted to again before Slack's Retry-After
    assert pacing.waits == [pytest.approx(7.0)]  # pyright: ignore[reportUnknownMemberType]
    assert len(fake_slack.posts("/api/chat.postMessage")) == 2  # one refused, one posted


async def test_a_part_already_posted_is_not_posted_again_when_the_notice_is_retried(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore
) -> None:
    bot = make_bot(store=store)
    fake_slack.rate_limited["chat.postMessage:C0OPS"] = 3
    first = await bot.notifier.deliver(_notice(await _view(bot), target=IN_A_THREAD))
    assert (first.outcome, first.detail, first.retry_after) == ("retry", "thread: ratelimited", 3.0)
    del fake_slack.rate_limited["chat.postMessage:C0OPS"]
    second = await bot.notifier.deliver(_notice(await _view(bot), target=IN_A_THREAD))
    assert second.outcome == "sent"
    channels = [p["channel"] for p in _posts(fake_slack)]
    assert channels == [dm_channel("U0ALICE"), "C0OPS", "C0OPS"]  # the DM went once


async def test_slack_failing_or_unreachable_is_retried_later(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    fake_slack.server_error.add("conversations.open")
    failing = await bot.notifier.deliver(_notice(await _view(bot), target=DM_ONLY))
    assert (failing.outcome, failing.detail, failing.retry_after) == ("retry", "dm: HTTP 500", 30.0)

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AsyncWebClient(
        token="xoxb-test", base_url=f"http://127.0.0.1:{port}/api/", retry_handlers=[]
    )
    notifier = SlackNotifier(client, bot.service, pacer=Pacer())
    unreachable = await notifier.deliver(_notice(await _view(bot), target=DM_ONLY))
    assert unreachable.outcome == "retry"
    assert unreachable.detail is not None
    assert unreachable.detail.startswith("dm: Slack unreachable (")
    assert unreachable.retry_after == 30.0


async def test_a_notice_without_a_slack_user_fails_at_once(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    result = await bot.notifier.deliver(_notice(None, target={"team": TEAM_ID, "user": "<!here>"}))
    assert result.outcome == "failed"
    assert fake_slack.received == []


async def test_thread_answers_in_one_channel_are_a_second_apart(
    make_bot: BotFactory, fake_slack: FakeSlack, store: WatchStore, pacing: Pacing
) -> None:
    bot = make_bot(store=store)
    view = await _view(bot)
    for number, user in enumerate(["U0ALICE", "U0BOB", "U0CAROL"]):
        target = {**IN_A_THREAD, "user": user}
        result = await bot.notifier.deliver(_notice(view, target=target, subscriber_id=number))
        assert result.outcome == "sent"
    assert [p["channel"] for p in _posts(fake_slack)] == [
        "D0ALICE",
        "C0OPS",
        "D0BOB",
        "C0OPS",
        "D0CAROL",
        "C0OPS",
    ]
    # the pace clock moved only by the waits: the three thread answers took >= 2 s
    assert sum(pacing.waits) >= 2.0
    assert pacing.clock.now - 1_000.0 == pytest.approx(sum(pacing.waits))  # pyright: ignore[reportUnknownMemberType]


# --- the pacer --------------------------------------------------------------------------------


async def test_the_pacer_spaces_posts_per_conversation_and_overall() -> None:
    pacing = Pacing()
    pacer = pacing.pacer(per_channel_seconds=1.0, overall_seconds=0.25)
    assert await pacer.turn("C1") is None
    assert await pacer.turn("C2") is None  # another conversation: only the overall spacing
    assert await pacer.turn("C1") is None  # its second post: a second after its first
    assert pacing.waits == [0.25, 0.75]


async def test_the_pacer_does_not_wait_longer_than_allowed_and_holds_when_slack_says() -> None:
    pacing = Pacing()
    pacer = pacing.pacer(per_channel_seconds=1.0, overall_seconds=0.0, max_wait_seconds=5.0)
    pacer.hold("C1", 30.0)
    assert await pacer.turn("C1") == pytest.approx(30.0)  # pyright: ignore[reportUnknownMemberType]
    assert pacing.waits == []  # not slept, and nothing taken
    assert await pacer.turn("C2") is None
    pacer.hold(None, 4.0)  # everywhere
    assert await pacer.turn("C3") is None
    assert pacing.waits == [4.0]


async def test_an_unexpected_error_is_a_retry_and_what_was_posted_is_not_posted_again(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    store: WatchStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = make_bot(store=store)
    reading = bot.service.channel_threads

    async def broken(scope: str, channel: str) -> bool:
        raise RuntimeError("a bug")

    monkeypatch.setattr(bot.service, "channel_threads", broken)
    first = await bot.notifier.deliver(_notice(await _view(bot), target=IN_A_THREAD))
    assert (first.outcome, first.detail) == ("retry", "unexpected RuntimeError")
    monkeypatch.setattr(bot.service, "channel_threads", reading)
    second = await bot.notifier.deliver(_notice(await _view(bot), target=IN_A_THREAD))
    assert second.outcome == "sent"
    assert [p["channel"] for p in _posts(fake_slack)] == [dm_channel("U0ALICE"), "C0OPS"]
