"""Untrusted text stays data: mrkdwn escaping and Block Kit limits, unit and end to end."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.mrkdwn import ELLIPSIS, cut, escape, escape_cut, plain
from shared.simulator import Simulator
from tests.bot.conftest import BotFactory, assert_valid_message, dispatch
from tests.bot.fake_slack import FakeSlack, command_body

EVIL = "<!channel> <https://evil.example|click> <@U0BOSS> <#C0ALL> & <!subteam^S1>"
_OUR_MARKUP = re.compile(r"^<!date\^\d+\^\{date_short_pretty\} at \{time_secs\}\|[^<>]*>$")


def test_escape_turns_markup_into_text() -> None:
    assert escape(EVIL) == (
        "&lt;!channel&gt; &lt;https://evil.example|click&gt; &lt;@U0BOSS&gt; &lt;#C0ALL&gt; "
        "&amp; &lt;!subteam^S1&gt;"
    )


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x9b", "\u202e", "\u2067", "\u200b", "\ufeff"])
def test_controls_bidi_and_invisible_characters_never_reach_slack(char: str) -> None:
    assert escape(f"a{char}b") == "ab"
    assert plain(f"a{char}b", 100) == "ab"


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@Channel"])
@pytest.mark.parametrize("after", [" now", ".", "!", ""])
def test_bare_broadcast_words_are_defused(word: str, after: str) -> None:
    escaped = escape(f"ping {word}{after}")
    assert word not in escaped
    assert escaped == f"ping @\u200b{word[1:]}{after}"


def test_an_email_is_not_mistaken_for_a_broadcast() -> None:
    assert escape("ops@channel.example.com") == "ops@channel.example.com"


def test_control_characters_are_dropped() -> None:
    assert escape("a\x00b\x1bc\nd") == "abc\nd"


@pytest.mark.parametrize("limit", range(1, 30))
def test_a_cut_never_splits_an_entity_and_respects_the_limit(limit: int) -> None:
    text = "<<&&>> " * 5
    result = escape_cut(text, limit)
    assert len(result) <= limit
    body = result.removesuffix(ELLIPSIS)
    assert re.fullmatch(r"(?:&lt;|&gt;|&amp;| )*", body), result


def test_short_text_is_left_alone() -> None:
    assert escape_cut("ok", 10) == "ok"
    assert cut("ok", 2) == "ok"
    assert cut("okay", 3) == "ok…"


def test_plain_text_is_single_spaced_and_never_empty() -> None:
    assert plain("  a \n b  ", 10) == "a b"
    assert plain("", 10) == "-"
    assert len(plain("x" * 500, 150)) == 150


def _mrkdwn_texts(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":  # pyright: ignore[reportUnknownMemberType]
            found.append(str(node["text"]))  # pyright: ignore[reportUnknownArgumentType]
        for value in node.values():  # pyright: ignore[reportUnknownVariableType]
            found += _mrkdwn_texts(value)
    elif isinstance(node, list):
        for item in node:  # pyright: ignore[reportUnknownVariableType]
            found += _mrkdwn_texts(item)
    return found


async def test_markup_inside_a_status_reason_never_reaches_slack_as_markup(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    # the simulator fails a capture whose SearchBy names an attribute that was not sent,
    # quoting SearchBy in its StatusReason; the note shows up in the request summary
    request_id = sim.submit(
        {
            "LeadDetails": [
                {"Attribute": "EmailAddress", "Value": "jane.doe@example.com"},
                {"Attribute": "SearchBy", "Value": EVIL},
            ],
            "Opportunity": {
                "OpportunityEventCode": 12000,
                "OpportunityNote": "<!here> pay <https://evil.example/pay|the invoice> @everyone",
                "Fields": [{"SchemaName": "mx_Custom_1", "Value": "Renewal"}],
            },
        }
    )
    bot = make_bot()
    await dispatch(bot, command_body(request_id, response_url=fake_slack.hook_url("evil")))
    [answer] = await fake_slack.wait_for("/hooks/evil")
    message = answer.body
    assert_valid_message(message)
    rendered = json.dumps(message, ensure_ascii=False)
    assert "&lt;!channel&gt;" in rendered  # the reason is shown, as text
    assert "&lt;https://evil.example|click&gt;" in rendered
    for texts in (_mrkdwn_texts(message["blocks"]), [message["text"]]):
        for text in texts:
            for markup in re.findall(r"<[^>]*>", text):
                assert _OUR_MARKUP.match(markup), f"active markup {markup!r} in {text!r}"
            assert "@everyone" not in text
    assert "jane.doe@example.com" not in rendered  # PII in the reason is masked
    assert all(t["verbatim"] is True for t in _mrkdwn_objects(message["blocks"]))


def _mrkdwn_objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":  # pyright: ignore[reportUnknownMemberType]
            found.append(node)  # pyright: ignore[reportUnknownArgumentType]
        for value in node.values():  # pyright: ignore[reportUnknownVariableType]
            found += _mrkdwn_objects(value)
    elif isinstance(node, list):
        for item in node:  # pyright: ignore[reportUnknownVariableType]
            found += _mrkdwn_objects(item)
    return found
