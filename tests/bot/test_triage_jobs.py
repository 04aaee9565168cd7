"""Triage jobs through Bolt's real dispatch: more ids than one answer takes, in the background.

Slack's side is the loopback fake (chat.postMessage, chat.update and the three steps of
files_upload_v2); LeadSquared's is the simulator behind the gate. Tests wait for what the
job posts (bounded, event-driven waits), never for time to pass.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import SlackBot
from bot.triage_jobs import TriageOptions
from shared import TRIAGE_COLUMNS, format_duration
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.simulator import SAMPLES, Simulator
from tests.bot.conftest import BotFactory, Gate, assert_valid_message, dispatch
from tests.bot.fake_slack import FakeSlack, Received, command_body, shortcut_body
from tests.conftest import SIM_KEY, fast_options

#: twelve distinct ids of the simulator's samples: more than one answer takes (10)
TWELVE = [sample.request_id for sample in SAMPLES.values()][:12]
#: a cadence that updates the progress message after every quarter of the ids
EVERY_QUARTER = TriageOptions(progress_seconds=0.0, progress_fraction=0.25)
UPLOADED = "/api/files.completeUploadExternal"


@pytest.fixture
async def quick_client(gate: Gate) -> AsyncIterator[CaptureStatusClient]:
    """A client whose budget is large, so the bulk lane's pace costs tests no time."""
    options = fast_options(budget_calls=1_000, budget_seconds=1, refresh_floor_seconds=0.0)
    async with CaptureStatusClient(
        options, SecretStr(SIM_KEY), transport=in_process_transport(gate)
    ) as client:
        yield client
        gate.open()


def _ack(body: str) -> dict[str, Any]:
    loaded: object = json.loads(body)
    assert isinstance(loaded, dict)
    return loaded  # pyright: ignore[reportUnknownVariableType]


def _text(received: Received) -> str:
    return json.dumps(received.body, ensure_ascii=False)


async def _command(bot: SlackBot, fake_slack: FakeSlack, ids: list[str], **who: str) -> Any:
    hook = fake_slack.hook_url(f"cmd-{len(fake_slack.received)}")
    return await dispatch(bot, command_body(" ".join(ids), response_url=hook, **who))


async def test_a_command_with_12_ids_starts_a_job_and_answers_with_the_count_and_eta(
    make_bot: BotFactory, fake_slack: FakeSlack, gate: Gate
) -> None:
    bot = make_bot()  # the real budget: 23 calls per 5.25 s for this deployment
    gate.close()
    response = await _command(bot, fake_slack, TWELVE)
    assert response.status == 200
    answer = _ack(response.body)
    assert_valid_message(answer)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "Triage of 12 RequestIds started: about 3 s."
    assert format_duration(bot.service.batch_seconds(12)) == "3 s"
    assert "More than 10 ids at once become a triage job" in json.dumps(answer)
    assert bot.jobs.running("slack:T0ACME:U0ALICE") == 1
    # the job posts its progress message in the conversation before any answer comes
    [posted] = await fake_slack.wait_for("/api/chat.postMessage")
    assert posted.body["channel"] == "C0OPS"
    assert_valid_message(posted.body)
    assert "0 of 12 looked up" in posted.body["text"]


async def test_the_progress_message_is_updated_in_place_then_becomes_the_summary(
    make_bot: BotFactory, fake_slack: FakeSlack, quick_client: CaptureStatusClient
) -> None:
    bot = make_bot(client=quick_client, triage=EVERY_QUARTER)
    await _command(bot, fake_slack, TWELVE)
    await fake_slack.wait_for(UPLOADED)
    [posted] = fake_slack.posts("/api/chat.postMessage")
    updates = fake_slack.posts("/api/chat.update")
    *progress, summary = updates
    assert {u.body["ts"] for u in updates} == {fake_slack.message_ts(1)}
    assert {u.body["channel"] for u in updates} == {"C0OPS"}
    # every quarter: 3, 6 and 9 of 12 (the 12th is the summary)
    assert [u.body["text"] for u in progress] == [
        f"Triage of 12 RequestIds: {done} of 12 looked up" for done in (3, 6, 9)
    ]
    for message in [posted, *updates]:
        assert_valid_message(message.body)
    assert summary.body["blocks"][0]["text"]["text"] == "📋 Triage of 12 RequestIds: done"
    # Slack wants new block ids on each update
    block_ids = [u.body["blocks"][0]["block_id"] for u in updates]
    assert len(set(block_ids)) == len(block_ids)


async def test_the_progress_message_waits_for_the_cadence(
    make_bot: BotFactory, fake_slack: FakeSlack, quick_client: CaptureStatusClient
) -> None:
    slow = TriageOptions(progress_seconds=3_600.0, progress_fraction=0.01)
    bot = make_bot(client=quick_client, triage=slow)
    await _command(bot, fake_slack, TWELVE)
    await fake_slack.wait_for(UPLOADED)
    [only] = fake_slack.posts("/api/chat.update")  # no progress update within the hour
    assert only.body["text"].startswith("Triage of 12 RequestIds: done.")


async def test_the_summary_counts_outcomes_groups_failures_and_lists_the_ids_to_resubmit(
    make_bot: BotFactory, fake_slack: FakeSlack, quick_client: CaptureStatusClient
) -> None:
    ids = [sample.request_id for sample in SAMPLES.values()]
    bot = make_bot(client=quick_client)
    await _command(bot, fake_slack, ids)
    await fake_slack.wait_for(UPLOADED)
    summary = fake_slack.posts("/api/chat.update")[-1].body
    assert_valid_message(summary)
    blocks = summary["blocks"]
    counts = {
        f["text"].split("\n")[0].strip("*"): f["text"].split("\n")[1] for f in blocks[1]["fields"]
    }
    assert counts == {
        "✅ Created": "3",
        "🔁 Duplicate": "1",
        "❌ Failed": "9",
        "⏳ In queue": "2",
        "⚠️ Error (LeadSquared retries)": "1",
        "❔ Unknown status": "1",
    }
    rendered = json.dumps(blocks, ensure_ascii=False)
    # failure groups (here 11 of one request each): five shown, with type, reason, examples
    groups = [b["text"]["text"] for b in blocks if "-ts-g" in b["block_id"]]
    assert len(groups) == 5
    assert groups[0] == "*⚠️ Error (LeadSquared retries): 1*\nUnable to Connect to DB\ne.g. `" + (
        SAMPLES["error"].request_id + "`"
    )
    assert "6 more failure groups: see the CSV file." in rendered
    failed = [s.request_id for s in SAMPLES.values() if s.expected_status.lower() == "failure"]
    [resubmit] = [b for b in blocks if b["block_id"].endswith("-ts-resubmit")]
    assert "*To resubmit* (9)" in resubmit["text"]["text"]
    assert all(rid in resubmit["text"]["text"] for rid in failed)
    assert "*Look again later* (3)" in rendered  # two in queue, one ERROR
    assert "Looked up in" in rendered
    assert "started by <@U0ALICE>" in rendered


async def test_the_csv_of_every_row_is_uploaded_to_the_conversation_masked(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    quick_client: CaptureStatusClient,
    sim: Simulator,
) -> None:
    fields = [{"SchemaName": "mx_Custom_1", "Value": "x"}]
    with_pii = [
        sim.submit(
            {
                "LeadDetails": [{"Attribute": "SearchBy", "Value": value}],
                "Opportunity": {"OpportunityEventCode": 12000, "Fields": fields},
            }
        )
        for value in ("priya.sharma@example.com", "+91-9876543210")
    ]
    ids = TWELVE[:10] + with_pii
    # personal data shown unmasked to the person who asks; the channel's copy is masked anyway
    bot = make_bot(client=quick_client, lsq_mask_pii=False)
    await _command(bot, fake_slack, ids)
    [completed] = await fake_slack.wait_for(UPLOADED)
    [asked] = fake_slack.posts("/api/files.getUploadURLExternal")
    [uploaded] = fake_slack.uploads.values()
    assert asked.body["filename"] == "capture-status-triage-20231114-221320.csv"
    assert int(asked.body["length"]) == len(uploaded)
    assert completed.body["channel_id"] == "C0OPS"
    assert completed.body["files"] == [{"id": "F00001", "title": "Triage of 12 RequestIds"}]
    assert completed.body["initial_comment"].startswith(
        "<@U0ALICE> the triage of 12 RequestIds is done: "
    )
    text = uploaded.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0].keys()) == TRIAGE_COLUMNS
    assert [row["request_id"] for row in rows] == ids  # in the order given
    reasons = {row["request_id"]: row["reason"] for row in rows}
    assert reasons[with_pii[0]] == "Invalid SearchBy value : 'p***@e***.com'."
    assert reasons[with_pii[1]] == "Invalid SearchBy value : '+91 ******10'."
    everything = text + "".join(_text(r) for r in fake_slack.received)
    assert "priya.sharma" not in everything
    assert "9876543210" not in everything


async def test_the_shortcut_on_a_message_with_more_than_ten_ids_starts_a_job(
    make_bot: BotFactory, fake_slack: FakeSlack, quick_client: CaptureStatusClient
) -> None:
    bot = make_bot(client=quick_client)
    message = {"text": "Failed captures:\n" + "\n".join(f"- {rid}" for rid in TWELVE)}
    await dispatch(bot, shortcut_body(message, response_url=fake_slack.hook_url("sc")))
    [answer] = await fake_slack.wait_for("/hooks/sc")
    assert_valid_message(answer.body)
    assert answer.body["response_type"] == "ephemeral"
    assert answer.body["text"].startswith("Triage of 12 RequestIds started")
    [completed] = await fake_slack.wait_for(UPLOADED)
    assert completed.body["channel_id"] == "C0OPS"
    [uploaded] = fake_slack.uploads.values()
    assert len(list(csv.DictReader(io.StringIO(uploaded.decode())))) == 12


async def test_one_person_runs_at_most_two_jobs_at_once(
    make_bot: BotFactory, fake_slack: FakeSlack, quick_client: CaptureStatusClient, gate: Gate
) -> None:
    bot = make_bot(client=quick_client)
    gate.close()
    for _ in range(2):
        assert "started" in _ack((await _command(bot, fake_slack, TWELVE)).body)["text"]
    async with asyncio.timeout(5):
        await gate.entered.wait()
    third = _ack((await _command(bot, fake_slack, TWELVE)).body)
    assert_valid_message(third)
    assert third["text"] == "You already run 2 triage jobs; this one was not started."
    # another person of the workspace has a share of their own
    bob = _ack((await _command(bot, fake_slack, TWELVE, user_id="U0BOB")).body)
    assert bob["text"].startswith("Triage of 12 RequestIds started")
    assert bot.jobs.running("slack:T0ACME:U0ALICE") == 2
    assert bot.jobs.running() == 3
    gate.open()
    async with asyncio.timeout(5):
        await bot.jobs.wait()
    assert len(fake_slack.posts(UPLOADED)) == 3
    # once a job is done, its person may start another
    again = _ack((await _command(bot, fake_slack, TWELVE)).body)
    assert again["text"].startswith("Triage of 12 RequestIds started")


async def test_more_ids_than_one_job_takes_are_refused_with_the_way_to_do_more(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    bot = make_bot(triage=TriageOptions(max_ids=15))
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(16)]
    answer = _ack((await _command(bot, fake_slack, ids)).body)
    assert_valid_message(answer)
    rendered = json.dumps(answer, ensure_ascii=False)
    assert "Found 16 distinct RequestIds; at most 15 are triaged at a time here" in rendered
    assert "capture-status triage FILE" in rendered
    assert bot.jobs.running() == 0
    assert fake_slack.posts("/api/chat.postMessage") == []
    assert sim.calls == []


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        ({"files.getUploadURLExternal": "missing_scope"}, "missing_scope"),
        ({"files.completeUploadExternal": "not_in_channel"}, "not_in_channel"),
        ({}, "SlackRequestError"),  # the upload itself refused (HTTP 500 below)
    ],
)
async def test_a_refused_csv_upload_is_said_in_the_conversation(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    quick_client: CaptureStatusClient,
    refusal: dict[str, str],
    said: str,
) -> None:
    fake_slack.refuse.update(refusal)
    fake_slack.upload_status = 200 if refusal else 500
    bot = make_bot(client=quick_client)
    await _command(bot, fake_slack, TWELVE)
    progress, notice = await fake_slack.wait_for("/api/chat.postMessage", 2)
    assert_valid_message(notice.body)
    assert notice.body["channel"] == "C0OPS"
    assert notice.body["thread_ts"] == fake_slack.message_ts(1)  # under the summary
    assert notice.body["text"] == "Triage of 12 RequestIds: the CSV file could not be uploaded"
    assert f"Slack said `{said}`" in _text(notice)
    assert "capture-status triage" in _text(notice)
    # the summary was posted all the same
    summary = fake_slack.posts("/api/chat.update")[-1]
    assert summary.body["text"].startswith("Triage of 12 RequestIds: done.")
    assert progress.body["channel"] == "C0OPS"


async def test_a_conversation_the_app_cannot_post_in_is_said_privately_and_nothing_is_looked_up(
    make_bot: BotFactory, fake_slack: FakeSlack, sim: Simulator
) -> None:
    fake_slack.refuse["chat.postMessage"] = "not_in_channel"
    bot = make_bot()
    await dispatch(bot, command_body(" ".join(TWELVE), response_url=fake_slack.hook_url("dm")))
    [told] = await fake_slack.wait_for("/hooks/dm")
    assert_valid_message(told.body)
    assert told.body["response_type"] == "ephemeral"
    assert told.body["text"] == "Triage of 12 RequestIds: not started"
    rendered = _text(told)
    assert "`not_in_channel`" in rendered
    assert "/invite @capture-status" in rendered
    assert "Nothing was looked up." in rendered
    assert sim.calls == []


async def test_a_shutdown_stops_every_job_and_says_so_in_its_message(
    make_bot: BotFactory, fake_slack: FakeSlack, quick_client: CaptureStatusClient, gate: Gate
) -> None:
    bot = make_bot(client=quick_client)
    gate.close()
    await _command(bot, fake_slack, TWELVE)
    async with asyncio.timeout(5):
        await gate.entered.wait()
    await bot.jobs.close()
    assert bot.jobs.running() == 0
    [stopped] = fake_slack.posts("/api/chat.update")
    assert stopped.body["ts"] == fake_slack.message_ts(1)
    assert_valid_message(stopped.body)
    assert stopped.body["text"] == (
        "Triage of 12 RequestIds: stopped by a restart of the app after 0 lookups."
    )
    assert "do not survive a restart" in _text(stopped)
    assert fake_slack.posts(UPLOADED) == []


async def test_a_job_looks_up_on_the_bulk_lane_and_a_command_on_the_interactive_one(
    make_bot: BotFactory, fake_slack: FakeSlack, quick_client: CaptureStatusClient
) -> None:
    bot = make_bot(client=quick_client)
    await _command(bot, fake_slack, TWELVE)
    await fake_slack.wait_for(UPLOADED)
    assert quick_client.budget.granted_by_lane == {"bulk": 12}
    not_in_the_job = list(SAMPLES.values())[12].request_id
    await _command(bot, fake_slack, [not_in_the_job], user_id="U0BOB")
    assert await bot.in_flight.drain(5.0)
    assert quick_client.budget.granted_by_lane == {"bulk": 12, "interactive": 1}
