"""Slack payloads stay out of the logs."""

from __future__ import annotations

import logging

import pytest

from bot.logs import SlackPayloadFilter, slack_library_logger
from shared.simulator import SAMPLES
from tests.bot.conftest import BotFactory, dispatch
from tests.bot.fake_slack import FakeSlack, command_body, signed_headers

MARKER = "jane.doe.marker@example.com"


async def test_a_forged_request_and_an_unhandled_one_never_log_their_bodies(
    make_bot: BotFactory, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = make_bot()
    body = command_body(f"{SAMPLES['created'].request_id} {MARKER}", response_url="http://x/h")
    forged = await dispatch(bot, body, headers=signed_headers(body, secret="wrong"))
    assert forged.status == 401
    unhandled = command_body(MARKER, response_url="http://x/h", command="/something-else")
    assert (await dispatch(bot, unhandled)).status == 404
    assert MARKER not in caplog.text
    assert "Unhandled request (payload omitted)" in caplog.text


def _record(name: str, level: int, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_the_filter_drops_chatter_and_cuts_payloads() -> None:
    only_slack = SlackPayloadFilter(only_slack_loggers=True)
    assert not only_slack.filter(_record("slack_bolt.App", logging.INFO, "body: {...}"))
    record = _record("slack_sdk.web", logging.WARNING, "failed: {'text': 'x'}\nmore")
    assert only_slack.filter(record)
    assert record.getMessage() == "failed: (payload omitted)"
    mine = _record("bot.listeners", logging.INFO, "an answer failed: {'x': 1}")
    assert only_slack.filter(mine)
    assert mine.getMessage() == "an answer failed: {'x': 1}"


def test_the_library_logger_is_quiet_and_filtered() -> None:
    logger = slack_library_logger()
    assert logger.level == logging.WARNING
    assert any(isinstance(f, SlackPayloadFilter) for f in logger.filters)
