"""Refresh, Share to channel and Open in LeadSquared, through Bolt's real dispatch."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.actions import METRICS_REFRESH, OPEN_PREFIX, REFRESH, SHARE, CardTarget
from shared.simulator import SAMPLES, Simulator
from tests.bot.conftest import BotFactory, Gate, assert_valid_message, dispatch
from tests.bot.fake_slack import FakeSlack, action_body, command_body

CREATED = SAMPLES["created"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id
FAILED = SAMPLES["failure_invalid_input"].request_id
APP_BASE = "https://run.leadsquared.example"


def _elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def _button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    [button] = [e for e in _elements(message) if e["action_id"] == action_id]
    return button


async def _first_answer(
    bot_text: str, make_bot: BotFactory, fake_slack: FakeSlack, **settings: Any
):
    bot = make_bot(**settings)
    await dispatch(bot, command_body(bot_text, response_url=fake_slack.hook_url("cmd")))
    [answer] = await fake_slack.wait_for("/hooks/cmd")
    return bot, answer.body


async def test_refresh_replaces_the_message_in_place_through_the_clicks_response_url(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot, first = await _first_answer(f"{IN_QUEUE} {CREATED}", make_bot, fake_slack)
    refresh = _button(first, REFRESH)
    calls_before = len(sim.calls)

    body = action_body(REFRESH, refresh["value"], response_url=fake_slack.hook_url("click1"))
    response = await dispatch(bot, body)
    assert response.status == 200
    [answer] = await fake_slack.wait_for("/hooks/click1")
    message = answer.body
    assert_valid_message(message)
    assert message["replace_original"] is True
    assert "response_type" not in message
    # both cards again, in order; the clicked one was fetched again, the final one was not
    headers = [b["text"]["text"] for b in message["blocks"] if b["type"] == "header"]
    assert [h.split(" · ")[1] for h in headers] == [IN_QUEUE, CREATED]
    status_calls = [c for c in sim.calls[calls_before:] if c.request_id is not None]
    assert [c.request_id for c in status_calls] == [IN_QUEUE]
    # new block ids on every render
    old_ids = {b["block_id"] for b in first["blocks"]}
    assert old_ids.isdisjoint(b["block_id"] for b in message["blocks"])


async def test_refresh_with_a_value_that_is_not_ours_does_nothing(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot()
    for value in ["", "not json", '{"id": "nope"}', json.dumps({"id": ["x"]})]:
        body = action_body(REFRESH, value, response_url=fake_slack.hook_url("junk"))
        assert (await dispatch(bot, body)).status == 200
    assert await bot.in_flight.drain(5)
    assert sim.calls == []
    assert fake_slack.posts("/hooks/junk") == []


async def test_share_posts_a_masked_copy_in_the_channel_without_a_share_button(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    # masking is off for the person's own answers, but a shared copy is always masked
    bot, first = await _first_answer(CREATED, make_bot, fake_slack, lsq_mask_pii=False)
    assert "Share to channel" in json.dumps(first)
    share = _button(first, SHARE)

    await dispatch(bot, action_body(SHARE, share["value"], response_url=fake_slack.hook_url("s")))
    [answer] = await fake_slack.wait_for("/hooks/s")
    message = answer.body
    assert_valid_message(message)
    assert message["response_type"] == "in_channel"
    assert message["replace_original"] is False
    assert SHARE not in [e["action_id"] for e in _elements(message)]
    assert "Shared by <@U0ALICE>" in json.dumps(message["blocks"])


async def test_a_shared_copy_of_a_queued_request_keeps_refresh_and_who_shared_it(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot, first = await _first_answer(IN_QUEUE, make_bot, fake_slack)
    share = _button(first, SHARE)
    await dispatch(bot, action_body(SHARE, share["value"], response_url=fake_slack.hook_url("s")))
    [shared] = await fake_slack.wait_for("/hooks/s")
    refresh = _button(shared.body, REFRESH)
    assert CardTarget.decode(refresh["value"]) == CardTarget(
        IN_QUEUE, (IN_QUEUE,), shared=True, by="U0ALICE", account="default"
    )

    click = action_body(
        REFRESH, refresh["value"], response_url=fake_slack.hook_url("r"), user_id="U0BOB"
    )
    await dispatch(bot, click)
    [refreshed] = await fake_slack.wait_for("/hooks/r")
    assert_valid_message(refreshed.body)
    assert refreshed.body["replace_original"] is True
    rendered = json.dumps(refreshed.body["blocks"])
    assert "Shared by <@U0ALICE>" in rendered
    assert SHARE not in [e["action_id"] for e in _elements(refreshed.body)]


async def test_open_in_leadsquared_buttons_link_to_the_app_and_their_clicks_are_acked(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot, first = await _first_answer(CREATED, make_bot, fake_slack, lsq_app_base_url=APP_BASE)
    links = [e for e in _elements(first) if e["action_id"].startswith(OPEN_PREFIX)]
    assert [e["text"]["text"] for e in links] == [
        "Open opportunity in LeadSquared",
        "Open lead in LeadSquared",
    ]
    assert all(e["url"].startswith(APP_BASE + "/") for e in links)
    calls = len(sim.calls)

    click = action_body(
        links[0]["action_id"], None, response_url=fake_slack.hook_url("o"), url=links[0]["url"]
    )
    response = await dispatch(bot, click)
    assert response.status == 200
    assert len(sim.calls) == calls
    assert fake_slack.posts("/hooks/o") == []


async def test_without_an_app_host_there_is_no_open_button(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    _, first = await _first_answer(CREATED, make_bot, fake_slack)
    assert not [e for e in _elements(first) if e["action_id"].startswith(OPEN_PREFIX)]


async def test_metrics_refresh_replaces_the_queue_answer(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot, first = await _first_answer("metrics", make_bot, fake_slack)
    button = _button(first, METRICS_REFRESH)
    await dispatch(
        bot, action_body(METRICS_REFRESH, button["value"], response_url=fake_slack.hook_url("m"))
    )
    [answer] = await fake_slack.wait_for("/hooks/m")
    assert_valid_message(answer.body)
    assert answer.body["replace_original"] is True
    assert "Capture Opportunities queue" in answer.body["text"]


@pytest.mark.parametrize("action_id", [REFRESH, SHARE])
async def test_a_button_click_is_acked_before_its_lookup(
    make_bot: BotFactory, fake_slack: FakeSlack, gate: Gate, action_id: str
) -> None:
    bot = make_bot()
    # an id not looked up before, so the click's lookup has to go upstream
    value = CardTarget(FAILED, (FAILED,), shared=action_id == SHARE).encode()
    gate.close()
    click = action_body(action_id, value, response_url=fake_slack.hook_url("g"))
    async with asyncio.timeout(5):
        response = await dispatch(bot, click)
        await gate.entered.wait()
    assert response.status == 200
    assert fake_slack.posts("/hooks/g") == []
    gate.open()
    [answer] = await fake_slack.wait_for("/hooks/g")
    assert_valid_message(answer.body)
