"""Fault matrix, Slack: every upstream fault gets one clear answer at the response_url, in time.

Each case sends a signed ``/capture-status <id>`` through Bolt's real dispatch, to a bot whose
client is opened from its settings as ``python -m bot`` opens it, with the matrix's short
timeouts, and talks to the simulator on a real loopback socket (so resets and read timeouts
are real). The ack must come back within Slack's 3 seconds, then exactly one answer must reach
the response_url within the lookup's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import pytest

from bot.actions import REFRESH
from shared.runtime import open_service
from shared.simulator import SAMPLES, Simulator
from tests.bot.conftest import BotFactory, assert_valid_message, bot_settings, dispatch
from tests.bot.fake_slack import FakeSlack, command_body
from tests.conftest import SIM_KEY
from tests.fault_matrix import FAULT_CASES, FAULT_SETTINGS, FaultCase, faulty_upstream

CREATED = SAMPLES["created"].request_id
#: Slack drops a slash command that is not acknowledged within 3 seconds
ACK_WITHIN = 3.0
#: the lookup's whole deadline, plus room for the answer's trip to Slack's side
ANSWER_WITHIN = float(FAULT_SETTINGS["LSQ_LOOKUP_DEADLINE_SECONDS"]) + 2.0
ATTEMPTS = int(FAULT_SETTINGS["LSQ_RETRY_ATTEMPTS"])
#: the matrix's client settings, as Settings field names
FAULT_OVERRIDES: dict[str, Any] = {name.lower(): value for name, value in FAULT_SETTINGS.items()}
_ERROR_FIELD = re.compile(r"\*Error\*\n(\w+)")


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Simulator, str]]:
    async with faulty_upstream(SIM_KEY) as served:
        yield served


def _texts(value: object) -> list[str]:
    """Every ``text`` string inside a block structure, in order."""
    if isinstance(value, list):
        return [text for item in cast("list[object]", value) for text in _texts(item)]
    if isinstance(value, dict):
        found: list[str] = []
        for key, item in cast("dict[str, object]", value).items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(_texts(item))
        return found
    return []


def _action_ids(message: Mapping[str, Any]) -> list[str]:
    return [
        str(element["action_id"])
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


@pytest.mark.parametrize("case", FAULT_CASES, ids=lambda c: c.name)
async def test_each_fault_gets_exactly_one_clear_answer_within_the_deadline(
    case: FaultCase,
    upstream: tuple[Simulator, str],
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim, url = upstream
    overrides = {**FAULT_OVERRIDES, "lsq_async_base_url": url}
    sim.set_fault(case.fault)
    hook = "/hooks/fault"
    async with open_service(bot_settings(fake_slack.url, **overrides)) as service:
        bot = make_bot(client=service.client(), **overrides)
        body = command_body(CREATED, response_url=fake_slack.hook_url("fault"))
        async with asyncio.timeout(ACK_WITHIN):
            ack = await dispatch(bot, body)
        assert (ack.status, ack.body) == (200, "")
        async with asyncio.timeout(ANSWER_WITHIN):
            await fake_slack.wait_for(hook, within=ANSWER_WITHIN)
            assert await bot.in_flight.drain(ANSWER_WITHIN)
    assert len(sim.calls) <= ATTEMPTS  # retried within bounds, never hammered
    [answer] = fake_slack.posts(hook)  # the listener has finished: no second answer comes
    message = answer.body
    assert_valid_message(message)
    assert message["response_type"] == "ephemeral"
    shown = "\n".join([message["text"], *_texts(message["blocks"])])
    assert case.says.lower() in shown.lower()
    assert "Traceback" not in shown
    # nothing crashed on the way: no listener fell back to its generic failure notice
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    if case.codes:
        error_field = _ERROR_FIELD.search(shown)
        assert error_field is not None, shown
        code = error_field.group(1)
        assert code in case.codes
        # Refresh wherever the answer says to try again: every retryable error, and also an
        # unreadable answer (not retryable as such, but it can pass, so "try again in a minute")
        assert REFRESH in _action_ids(message)
    else:
        header = message["blocks"][0]
        assert header["type"] == "header"
        assert case.says in header["text"]["text"]  # the raw status, as LeadSquared sent it
        assert _ERROR_FIELD.search(shown) is None
        assert REFRESH in _action_ids(message)  # a status nobody knows is not final
