"""``/capture-status`` through Bolt's real dispatch: signed requests, ack first, one answer."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from pydantic import SecretStr

from bot.actions import METRICS_REFRESH, REFRESH, SHARE, CardTarget
from bot.app import SlackBot
from bot.blocks import MESSAGE_CHAR_BUDGET
from shared.lsq.client import CaptureStatusClient
from shared.lsq.ids import REQUEST_ID_EXAMPLE
from shared.lsq.upstream import in_process_transport
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Fault, FaultKind, Simulator
from tests.bot.conftest import (
    BotFactory,
    Gate,
    assert_valid_message,
    dispatch,
)
from tests.bot.fake_slack import FakeSlack, action_body, command_body, signed_headers
from tests.conftest import fast_options

CREATED = SAMPLES["created"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id
FAILED = SAMPLES["failure_invalid_activity_fields"].request_id


def _buttons(message: dict[str, object]) -> list[dict[str, object]]:
    blocks = message["blocks"]
    assert isinstance(blocks, list)
    found: list[dict[str, object]] = []
    for block in blocks:  # pyright: ignore[reportUnknownVariableType]
        if isinstance(block, dict) and block.get("type") == "actions":  # pyright: ignore[reportUnknownMemberType]
            found.extend(block["elements"])  # pyright: ignore[reportUnknownArgumentType]
    return found


async def test_the_ack_returns_while_the_lookup_is_still_held_upstream(
    make_bot: BotFactory, fake_slack: FakeSlack, gate: Gate, sim: Simulator
) -> None:
    bot = make_bot()
    gate.close()
    body = command_body(CREATED, response_url=fake_slack.hook_url("cmd"))
    async with asyncio.timeout(5):
        response = await dispatch(bot, body)
        # the lookup has reached the upstream door and is held there
        await gate.entered.wait()
    assert response.status == 200
    assert response.body == ""
    assert sim.calls == []
    assert fake_slack.posts("/hooks/cmd") == []
    assert bot.in_flight.count == 1

    gate.open()
    [answer] = await fake_slack.wait_for("/hooks/cmd")
    assert len(sim.calls) == 1
    message = answer.body
    assert_valid_message(message)
    assert message["response_type"] == "ephemeral"
    assert "✅ Success" in message["text"]
    assert CREATED in message["text"]
    header = message["blocks"][0]
    assert header["type"] == "header"
    assert header["text"]["text"] == f"✅ Success · {CREATED}"


async def test_a_final_status_has_no_refresh_but_can_be_shared(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    await dispatch(bot, command_body(CREATED, response_url=fake_slack.hook_url("final")))
    [answer] = await fake_slack.wait_for("/hooks/final")
    actions = [b["action_id"] for b in _buttons(answer.body)]
    assert REFRESH not in actions
    assert SHARE in actions


async def test_a_queued_request_gets_refresh_carrying_only_request_ids_and_the_account(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    text = f"please check {IN_QUEUE} and https://x.example/status?RequestID={CREATED.upper()}"
    await dispatch(bot, command_body(text, response_url=fake_slack.hook_url("queued")))
    [answer] = await fake_slack.wait_for("/hooks/queued")
    assert_valid_message(answer.body)
    refresh = [b for b in _buttons(answer.body) if b["action_id"] == REFRESH]
    assert len(refresh) == 1  # the In-Queue card only; the Success card is final
    target = CardTarget.decode(refresh[0]["value"])
    assert target == CardTarget(IN_QUEUE, (IN_QUEUE, CREATED), account="default")
    assert json.loads(str(refresh[0]["value"])).keys() == {"id", "ids", "acct"}


async def test_ten_samples_are_all_answered_in_compact_cards(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    ids = [sample.request_id for sample in SAMPLES.values()][:10]
    await dispatch(bot, command_body(" ".join(ids), response_url=fake_slack.hook_url("ten")))
    assert await bot.in_flight.drain(10)
    answers = [r.body for r in fake_slack.posts("/hooks/ten")]
    headers = [b for a in answers for b in a["blocks"] if b["type"] == "header"]
    assert [h["text"]["text"].split(" · ")[1] for h in headers] == ids
    for answer in answers:
        assert_valid_message(answer)
        assert len(json.dumps(answer["blocks"])) < 12_000
        # compact cards keep the facts, the status reason among them
        assert any(b.get("fields") for b in answer["blocks"] if b["type"] == "section")


def _long_failure(sim: Simulator, n: int) -> str:
    """A capture that fails with a long reason quoting what was sent (an odd SearchBy)."""
    search_by = f"mx_Custom_Attribute_{n}_" + "WithAVeryLongSchemaName" * 40
    return sim.submit(
        {
            "LeadDetails": [{"Attribute": "SearchBy", "Value": search_by}],
            "Opportunity": {"OpportunityEventCode": 12000, "Fields": [{"SchemaName": "a"}]},
        }
    )


async def test_ten_ids_of_every_status_arrive_in_messages_within_slacks_limits(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot(lsq_app_base_url="https://run.leadsquared.example")
    names = ["in_queue", "in_queue_lowercase", "created", "duplicate", "error", "unknown_status"]
    ids = [SAMPLES[name].request_id for name in names]
    ids += [UNKNOWN_REQUEST_ID, _long_failure(sim, 1), _long_failure(sim, 2), FAILED]
    await dispatch(bot, command_body(" ".join(ids), response_url=fake_slack.hook_url("all")))
    assert await bot.in_flight.drain(10)
    answers = [r.body for r in fake_slack.posts("/hooks/all")]
    assert 1 <= len(answers) <= 5  # a response_url takes five messages
    shown: list[str] = []
    for message in answers:
        assert_valid_message(message)
        assert message["response_type"] == "ephemeral"
        assert len(message["blocks"]) <= 50
        assert len(json.dumps(message["blocks"], ensure_ascii=False)) <= MESSAGE_CHAR_BUDGET
        headers = [b["text"]["text"] for b in message["blocks"] if b["type"] == "header"]
        shown += [h.rsplit(" · ", 1)[1] for h in headers]
    assert shown == ids  # every id, once, in the order asked
    assert "WithAVeryLongSchemaName" in json.dumps(answers)

    # the one Refresh of a message asks again for every id of it that may still change
    first = answers[0]
    [refresh] = [b for b in _buttons(first) if b["action_id"] == REFRESH]
    value = str(refresh["value"])
    target = CardTarget.decode(value)
    assert target is not None
    assert SAMPLES["in_queue"].request_id in target.fresh_ids
    assert set(target.fresh_ids) == {
        SAMPLES["in_queue"].request_id,
        SAMPLES["in_queue_lowercase"].request_id,
        SAMPLES["unknown_status"].request_id,
        SAMPLES["error"].request_id,
    } & set(target.message_ids)
    before = len(sim.calls)
    click = action_body(REFRESH, value, response_url=fake_slack.hook_url("again"))
    await dispatch(bot, click)
    assert await bot.in_flight.drain(10)
    again = [r.body for r in fake_slack.posts("/hooks/again")]
    assert again[0]["replace_original"] is True
    asked = {c.request_id for c in sim.calls[before:] if c.request_id is not None}
    assert asked == set(target.fresh_ids)
    refreshed: list[str] = []
    for message in again:
        assert_valid_message(message)
        assert len(json.dumps(message["blocks"], ensure_ascii=False)) <= MESSAGE_CHAR_BUDGET
        headers = [b["text"]["text"] for b in message["blocks"] if b["type"] == "header"]
        refreshed += [h.rsplit(" · ", 1)[1] for h in headers]
    assert refreshed == list(target.message_ids)


async def test_an_unknown_id_is_answered_with_the_not_found_explanation(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    await dispatch(bot, command_body(UNKNOWN_REQUEST_ID, response_url=fake_slack.hook_url("nf")))
    [answer] = await fake_slack.wait_for("/hooks/nf")
    assert_valid_message(answer.body)
    assert "No request with this id was found" in answer.body["text"]
    assert REFRESH not in [b["action_id"] for b in _buttons(answer.body)]


async def test_acks_stay_fast_while_lookups_are_held(
    make_bot: BotFactory, fake_slack: FakeSlack, gate: Gate
) -> None:
    bot = make_bot()
    gate.close()
    started = time.monotonic()
    async with asyncio.timeout(5):
        responses = await asyncio.gather(
            *(
                dispatch(bot, command_body(FAILED, response_url=fake_slack.hook_url(f"n{n}")))
                for n in range(20)
            )
        )
    assert all(r.status == 200 for r in responses)
    assert time.monotonic() - started < 3.0  # Slack's own deadline, with every lookup held
    gate.open()
    for n in range(20):
        await fake_slack.wait_for(f"/hooks/n{n}")


# --- answers that need no lookup are the acknowledgement itself -------------------------


def _ack_message(body: str) -> dict[str, object]:
    loaded: object = json.loads(body)
    assert isinstance(loaded, dict)
    return loaded  # pyright: ignore[reportUnknownVariableType]


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "--help"])
async def test_help_and_an_empty_command_answer_usage_in_the_ack(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator, text: str
) -> None:
    bot = make_bot()
    response = await dispatch(bot, command_body(text, response_url=fake_slack.hook_url("h")))
    assert response.status == 200
    message = _ack_message(response.body)
    assert_valid_message(message)
    assert message["response_type"] == "ephemeral"
    assert "/capture-status <RequestId>" in str(message["text"])
    assert "metrics" in json.dumps(message["blocks"])
    assert sim.calls == []
    assert fake_slack.posts("/hooks/h") == []


async def test_help_names_the_command_it_was_typed_as(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    hook = fake_slack.hook_url("h")
    body = command_body("help", response_url=hook, command="/capture-status-dev")
    message = _ack_message((await dispatch(bot, body)).body)
    assert "/capture-status-dev metrics" in json.dumps(message["blocks"])


@pytest.mark.parametrize("text", ["hello", "1234", "c1d867a7-a325-4b68-954f", "<!channel> hi"])
async def test_text_without_an_id_says_what_an_id_looks_like(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator, text: str
) -> None:
    bot = make_bot()
    response = await dispatch(bot, command_body(text, response_url=fake_slack.hook_url("x")))
    message = _ack_message(response.body)
    assert_valid_message(message)
    rendered = json.dumps(message)
    assert "That is not a LeadSquared RequestId" in rendered
    assert REQUEST_ID_EXAMPLE in rendered
    assert "<!channel>" not in rendered
    assert sim.calls == []


# More ids than one answer takes start a triage job: tests/bot/test_triage_jobs.py


async def test_metrics_answers_the_queue_health(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    response = await dispatch(bot, command_body("metrics", response_url=fake_slack.hook_url("q")))
    assert response.body == ""
    [answer] = await fake_slack.wait_for("/hooks/q")
    assert_valid_message(answer.body)
    rendered = json.dumps(answer.body)
    assert "Capture Opportunities queue" in answer.body["text"]
    assert "Requests in queue" in rendered
    assert "Worst-case delay" in rendered
    assert "Processing rate" in rendered
    assert METRICS_REFRESH in rendered


async def test_metrics_failure_is_explained_with_refresh(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503))
    bot = make_bot()
    await dispatch(bot, command_body("metrics", response_url=fake_slack.hook_url("q")))
    [answer] = await fake_slack.wait_for("/hooks/q")
    assert_valid_message(answer.body)
    assert "server error (HTTP 503)" in answer.body["text"]
    assert METRICS_REFRESH in json.dumps(answer.body["blocks"])


# --- every upstream failure is its own answer -----------------------------------------


async def _answer_for(bot: SlackBot, fake_slack: FakeSlack, name: str) -> dict[str, Any]:
    await dispatch(bot, command_body(CREATED, response_url=fake_slack.hook_url(name)))
    [answer] = await fake_slack.wait_for(f"/hooks/{name}")
    assert_valid_message(answer.body)
    return answer.body


async def test_a_refused_api_key_tells_the_person_to_ask_an_admin(
    make_bot: BotFactory, fake_slack: FakeSlack, gate: Gate
) -> None:
    async with CaptureStatusClient(
        fast_options(), SecretStr("wrong-key"), transport=in_process_transport(gate)
    ) as wrong_key:
        body = await _answer_for(make_bot(client=wrong_key), fake_slack, "auth")
    assert "🔒 Key refused" in body["text"]
    assert "Tell an admin of this tool" in json.dumps(body["blocks"])
    assert REFRESH not in [b["action_id"] for b in _buttons(body)]


async def test_throttling_says_when_to_retry_and_offers_refresh(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.RATE_LIMITED, retry_after=30))
    body = await _answer_for(make_bot(), fake_slack, "throttle")
    assert "🐢 Throttled" in body["text"]
    rendered = json.dumps(body["blocks"])
    assert "Try again in 30 s." in rendered
    assert "Retry after" in rendered
    assert REFRESH in [b["action_id"] for b in _buttons(body)]


@pytest.mark.parametrize(
    ("fault", "headline"),
    [
        (Fault(kind=FaultKind.SERVER_ERROR, status_code=503), "server error (HTTP 503)"),
        (Fault(kind=FaultKind.CONNECTION_RESET), "Could not reach LeadSquared"),
    ],
)
async def test_leadsquared_down_says_try_again_and_offers_refresh(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator, fault: Fault, headline: str
) -> None:
    sim.set_fault(fault)
    body = await _answer_for(make_bot(), fake_slack, "down")
    assert headline in body["text"]
    assert "Try again in a minute." in json.dumps(body["blocks"])
    assert REFRESH in [b["action_id"] for b in _buttons(body)]


async def test_a_failed_id_does_not_hide_the_others(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = make_bot()
    text = f"{CREATED} {UNKNOWN_REQUEST_ID}"
    await dispatch(bot, command_body(text, response_url=fake_slack.hook_url("mixed")))
    [answer] = await fake_slack.wait_for("/hooks/mixed")
    assert_valid_message(answer.body)
    lines = answer.body["text"].splitlines()
    assert lines[0].startswith(f"✅ Success · {CREATED}")
    assert lines[1].startswith(f"🔍 Not found · {UNKNOWN_REQUEST_ID}")


async def test_a_response_url_slack_refuses_is_logged_not_raised(
    make_bot: BotFactory, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.hook_status = 404
    bot = make_bot()
    await dispatch(bot, command_body(CREATED, response_url=fake_slack.hook_url("gone")))
    await fake_slack.wait_for("/hooks/gone")
    assert await bot.in_flight.drain(5)
    assert "Slack refused an answer through response_url (HTTP 404" in caplog.text


# --- Slack's signature is checked before anything else ----------------------------------


async def test_a_forged_signature_gets_401_and_no_lookup(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot()
    body = command_body(CREATED, response_url=fake_slack.hook_url("forged"))
    forged = signed_headers(body, secret="not-the-signing-secret")
    response = await dispatch(bot, body, headers=forged)
    assert response.status == 401
    assert bot.in_flight.count == 0
    assert sim.calls == []
    assert fake_slack.posts("/hooks/forged") == []


async def test_a_request_older_than_five_minutes_gets_401_and_no_lookup(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot()
    body = command_body(CREATED, response_url=fake_slack.hook_url("stale"))
    stale = signed_headers(body, timestamp=int(time.time()) - 301)
    response = await dispatch(bot, body, headers=stale)
    assert response.status == 401
    assert bot.in_flight.count == 0
    assert sim.calls == []
