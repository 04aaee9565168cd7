"""The "Check capture status" message shortcut and the App Home tab, through Bolt's dispatch."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from shared.simulator import SAMPLES, Fault, FaultKind, Simulator
from tests.bot.conftest import (
    BotFactory,
    assert_valid_home,
    assert_valid_message,
    dispatch,
)
from tests.bot.fake_slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    event_body,
    shortcut_body,
)
from tests.conftest import SIM_KEY

CREATED = SAMPLES["created"].request_id
DUPLICATE = SAMPLES["duplicate"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id


def _alert_message() -> dict[str, Any]:
    """A message as an alerting bot posts it: ids in text, a section and an attachment."""
    return {
        "type": "message",
        "user": "U0ALERTS",
        "ts": "1700000000.000100",
        "client_msg_id": "0f1e2d3c-4b5a-4697-8a9b-0c1d2e3f4a5b",  # GUID-shaped, not an id
        "text": f"Capture failed for RequestId {CREATED}",
        "blocks": [
            {
                "type": "section",
                "block_id": "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a",
                "text": {
                    "type": "mrkdwn",
                    "text": f"retry of <https://x.example/s?RequestID={DUPLICATE}|status>",
                },
            }
        ],
        "attachments": [{"fallback": "queue", "fields": [{"title": "Queued", "value": IN_QUEUE}]}],
    }


async def test_the_shortcut_looks_up_every_id_in_the_message_and_answers_ephemerally(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    body = shortcut_body(_alert_message(), response_url=fake_slack.hook_url("sc"))
    response = await dispatch(bot, body)
    assert response.status == 200
    assert response.body == ""
    [answer] = await fake_slack.wait_for("/hooks/sc")
    assert_valid_message(answer.body)
    assert answer.body["response_type"] == "ephemeral"
    headers = [b["text"]["text"] for b in answer.body["blocks"] if b["type"] == "header"]
    assert [h.split(" · ")[1] for h in headers] == [CREATED, DUPLICATE, IN_QUEUE]


async def test_without_a_response_url_the_shortcut_answers_with_an_ephemeral_chat_message(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    await dispatch(bot, shortcut_body({"text": CREATED}, response_url=None))
    [posted] = await fake_slack.wait_for("/api/chat.postEphemeral")
    assert posted.body["channel"] == "C0OPS"
    assert posted.body["user"] == "U0ALICE"
    assert posted.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert_valid_message(posted.body)
    assert CREATED in posted.body["text"]


async def test_a_message_without_ids_gets_a_hint_and_no_lookup(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot()
    message = {"text": "deploy done", "client_msg_id": "0f1e2d3c-4b5a-4697-8a9b-0c1d2e3f4a5b"}
    await dispatch(bot, shortcut_body(message, response_url=fake_slack.hook_url("none")))
    [answer] = await fake_slack.wait_for("/hooks/none")
    assert_valid_message(answer.body)
    assert "No RequestId in that message" in answer.body["text"]
    assert sim.calls == []


# A message with more ids than one answer takes starts a triage job:
# tests/bot/test_triage_jobs.py


# --- App Home ---------------------------------------------------------------------------


async def test_opening_the_home_tab_publishes_usage_configuration_and_queue_health(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot(
        slack_app_token=SecretStr(APP_TOKEN),
        lsq_app_base_url="https://run.leadsquared.example",
        slack_allowed_channel_ids="C0OPS,C0SUPPORT",
    )
    response = await dispatch(
        bot,
        event_body({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}),
        content_type="application/json",
    )
    assert response.status == 200
    [published] = await fake_slack.wait_for("/api/views.publish")
    assert published.body["user_id"] == "U0ALICE"
    view = published.body["view"]
    assert_valid_home(view)
    rendered = json.dumps(view)
    for expected in (
        "How to use it",
        "Queue health",
        "Requests in queue",
        "Configuration in effect",
        "LeadSquared region in21",
        "23 calls per 5 s",
        "up to 10",
        "masked",
        "run.leadsquared.example",
        "restricted to 2 channels",
    ):
        assert expected in rendered, expected
    for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, SIM_KEY, "C0OPS", "C0SUPPORT"):
        assert secret not in rendered


async def test_the_home_tab_says_so_when_the_queue_check_fails(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=502))
    bot = make_bot()
    await dispatch(
        bot,
        event_body({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}),
        content_type="application/json",
    )
    [published] = await fake_slack.wait_for("/api/views.publish")
    assert_valid_home(published.body["view"])
    assert "server error (HTTP 502)" in json.dumps(published.body["view"])


async def test_the_home_tab_in_demo_mode_says_it_is_a_demo(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot(lsq_demo=True)
    await dispatch(
        bot,
        event_body({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}),
        content_type="application/json",
    )
    [published] = await fake_slack.wait_for("/api/views.publish")
    assert_valid_home(published.body["view"])
    rendered = json.dumps(published.body["view"])
    assert "Demo" in rendered
    assert "simulator" in rendered


async def test_opening_the_messages_tab_publishes_nothing(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    response = await dispatch(
        bot,
        event_body({"type": "app_home_opened", "user": "U0ALICE", "tab": "messages"}),
        content_type="application/json",
    )
    assert response.status == 200
    assert await bot.in_flight.drain(5)
    assert fake_slack.posts("/api/views.publish") == []
