"""The SLACK_ALLOWED_* allowlists: a polite ephemeral refusal and no lookup."""

from __future__ import annotations

import json

import pytest

from bot.access import Allowlist
from bot.actions import REFRESH, CardTarget
from shared.simulator import SAMPLES, Simulator
from tests.bot.conftest import BotFactory, assert_valid_home, assert_valid_message, dispatch
from tests.bot.fake_slack import FakeSlack, action_body, command_body, event_body, shortcut_body

CREATED = SAMPLES["created"].request_id


def test_empty_allowlists_allow_everyone() -> None:
    assert Allowlist().allows(team_id="T1", user_id="U1", channel_id="C1")
    assert not Allowlist().restricted
    assert Allowlist().describe() == "everyone in the workspace"


@pytest.mark.parametrize(
    ("allowlist", "team", "enterprise", "user", "channel", "allowed"),
    [
        (Allowlist(team_ids=frozenset({"T1"})), "T1", None, "U1", "C1", True),
        (Allowlist(team_ids=frozenset({"T1"})), "T2", None, "U1", "C1", False),
        (Allowlist(team_ids=frozenset({"E1"})), "T2", "E1", "U1", "C1", True),
        (Allowlist(user_ids=frozenset({"U1"})), "T1", None, "U2", "C1", False),
        (Allowlist(channel_ids=frozenset({"C1"})), "T1", None, "U1", "C2", False),
        (Allowlist(channel_ids=frozenset({"C1"})), "T1", None, "U1", None, False),
        (
            Allowlist(team_ids=frozenset({"T1"}), user_ids=frozenset({"U1"})),
            "T1",
            None,
            "U1",
            "C9",
            True,
        ),
    ],
)
def test_each_allowlist_applies_on_its_own(
    allowlist: Allowlist,
    team: str,
    enterprise: str | None,
    user: str,
    channel: str | None,
    allowed: bool,
) -> None:
    assert (
        allowlist.allows(team_id=team, enterprise_id=enterprise, user_id=user, channel_id=channel)
        is allowed
    )


def test_the_home_tab_ignores_the_channel_allowlist() -> None:
    allowlist = Allowlist(channel_ids=frozenset({"C1"}))
    assert allowlist.allows(team_id="T1", user_id="U1", check_channel=False)


def test_the_description_counts_without_naming_ids() -> None:
    allowlist = Allowlist(channel_ids=frozenset({"C1", "C2"}), user_ids=frozenset({"U1"}))
    assert allowlist.describe() == "restricted to 2 channels, 1 person"


async def test_a_command_from_a_channel_not_allowed_is_refused_in_the_ack(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot(slack_allowed_channel_ids="C0ELSEWHERE")
    body = command_body(CREATED, response_url=fake_slack.hook_url("no"))
    response = await dispatch(bot, body)
    assert response.status == 200
    message = json.loads(response.body)
    assert_valid_message(message)
    assert message["response_type"] == "ephemeral"
    assert "isn't enabled here" in message["text"]
    assert sim.calls == []
    assert fake_slack.posts("/hooks/no") == []


async def test_a_person_not_allowed_is_refused(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot(slack_allowed_user_ids="U0BOB")
    response = await dispatch(bot, command_body("help", response_url=fake_slack.hook_url("no")))
    assert "isn't enabled here" in json.loads(response.body)["text"]
    allowed = command_body(CREATED, response_url=fake_slack.hook_url("yes"), user_id="U0BOB")
    await dispatch(bot, allowed)
    await fake_slack.wait_for("/hooks/yes")
    assert len(sim.calls) == 1


async def test_a_button_clicked_from_another_workspace_is_refused_without_a_lookup(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot(slack_allowed_team_ids="T0ACME")
    value = CardTarget(CREATED, (CREATED,)).encode()
    click = action_body(REFRESH, value, response_url=fake_slack.hook_url("b"), team_id="T0OTHER")
    await dispatch(bot, click)
    [answer] = await fake_slack.wait_for("/hooks/b")
    assert_valid_message(answer.body)
    assert "isn't enabled here" in answer.body["text"]
    assert answer.body["replace_original"] is False
    assert sim.calls == []


async def test_the_shortcut_is_refused_outside_the_allowed_channels(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot(slack_allowed_channel_ids="C0ELSEWHERE")
    await dispatch(bot, shortcut_body({"text": CREATED}, response_url=fake_slack.hook_url("s")))
    [answer] = await fake_slack.wait_for("/hooks/s")
    assert "isn't enabled here" in answer.body["text"]
    assert sim.calls == []


async def test_the_home_tab_of_a_person_not_allowed_shows_no_configuration_or_queue(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot(slack_allowed_user_ids="U0BOB")
    await dispatch(
        bot,
        event_body({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}),
        content_type="application/json",
    )
    [published] = await fake_slack.wait_for("/api/views.publish")
    view = published.body["view"]
    assert_valid_home(view)
    rendered = json.dumps(view)
    assert "isn't enabled for you" in rendered
    assert "Configuration in effect" not in rendered
    assert sim.calls == []
