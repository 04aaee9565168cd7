"""Slack: hostile answers get valid, inert Block Kit, one id at a time or ten at once.

Signed slash commands go through Bolt's real dispatch to a bot whose simulator serves every
answer of the adversarial corpus; the answers (and the copy shared to the channel) arrive at
a local response_url and are checked with slack-sdk's models, along with the DEBUG log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.applications import Starlette

from bot.actions import SHARE
from shared.simulator import SAMPLES, Simulator
from tests.bot.conftest import BotFactory, assert_valid_message, dispatch
from tests.bot.fake_slack import FakeSlack, action_body, command_body
from tests.hostile import HOSTILE_IDS, assert_inert, serve_hostile_answers

ANSWER_WITHIN = 10.0


@pytest.fixture
def hostile_sim(sim_app: Starlette) -> Simulator:
    simulator: Simulator = sim_app.state.simulator
    serve_hostile_answers(simulator)
    return simulator


def _share_value(message: dict[str, Any]) -> str:
    [button] = [
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == SHARE
    ]
    return str(button["value"])


@pytest.mark.parametrize("name", list(HOSTILE_IDS))
async def test_each_hostile_answer_and_its_shared_copy_are_valid_and_inert(
    name: str,
    hostile_sim: Simulator,
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = make_bot()
    rid = HOSTILE_IDS[name]
    ack = await dispatch(bot, command_body(rid, response_url=fake_slack.hook_url("cmd")))
    assert ack.status == 200
    [answer] = await fake_slack.wait_for("/hooks/cmd", within=ANSWER_WITHIN)
    assert_valid_message(answer.body)
    assert rid in json.dumps(answer.body)
    assert_inert(json.dumps(answer.body, ensure_ascii=False))
    share = action_body(SHARE, _share_value(answer.body), response_url=fake_slack.hook_url("s"))
    await dispatch(bot, share)
    [shared] = await fake_slack.wait_for("/hooks/s", within=ANSWER_WITHIN)
    assert_valid_message(shared.body)
    assert shared.body["response_type"] == "in_channel"
    assert_inert(json.dumps(shared.body, ensure_ascii=False))
    assert await bot.in_flight.drain(ANSWER_WITHIN)
    assert_inert("\n".join(r.getMessage() for r in caplog.records))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_ten_hostile_answers_at_once_are_all_answered_within_slacks_limits(
    hostile_sim: Simulator, make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    ids = list(HOSTILE_IDS.values())[:10]
    await dispatch(bot, command_body(" ".join(ids), response_url=fake_slack.hook_url("ten")))
    await fake_slack.wait_for("/hooks/ten", within=ANSWER_WITHIN)
    assert await bot.in_flight.drain(ANSWER_WITHIN)
    messages = [post.body for post in fake_slack.posts("/hooks/ten")]
    for message in messages:
        assert_valid_message(message)
        assert_inert(json.dumps(message, ensure_ascii=False))
    shown = json.dumps(messages)
    assert all(rid in shown for rid in ids)


async def test_the_single_quoted_sample_shared_to_a_channel_shows_no_lead_details(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    rid = SAMPLES["request_body_not_json"].request_id
    await dispatch(bot, command_body(rid, response_url=fake_slack.hook_url("cmd")))
    [answer] = await fake_slack.wait_for("/hooks/cmd", within=ANSWER_WITHIN)
    share = action_body(SHARE, _share_value(answer.body), response_url=fake_slack.hook_url("s"))
    await dispatch(bot, share)
    [shared] = await fake_slack.wait_for("/hooks/s", within=ANSWER_WITHIN)
    for message in (answer.body, shared.body):
        shown = json.dumps(message)
        assert "Ravi" not in shown
        assert "ravi.kumar" not in shown
        assert "not shown" in shown
