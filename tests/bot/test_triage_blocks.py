"""The Block Kit of triage jobs: within Slack's limits, escaped, and saying what matters."""

from __future__ import annotations

import json

from bot.blocks import MESSAGE_CHAR_BUDGET
from bot.kit import RenderContext
from bot.triage_blocks import (
    TriageJobInfo,
    busy_message,
    csv_comment,
    progress_message,
    started_message,
    stopped_message,
    summary_message,
    too_many_for_a_job_message,
)
from shared import BatchProgress, TriageRow, summarize
from tests.bot.conftest import NOW, assert_valid_message

CTX = RenderContext(
    checked_at=NOW, upstream="LeadSquared region in21", demo=True, nonce="n0", account="default"
)
JOB = TriageJobInfo(count=1_000, user_id="U0ALICE")


def _rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _failed(n: int, reason: str, exception: str = "MXInvalidInputException") -> TriageRow:
    return TriageRow(
        request_id=_rid(n), status="FAILURE", outcome="failed", exception_type=exception,
        reason=reason, account="default",
    )  # fmt: skip


def test_every_message_of_a_job_is_valid_block_kit() -> None:
    rows = [_failed(n, "bad") for n in range(3)]
    progress = BatchProgress(done=400, total=1_000, failed=2, elapsed_seconds=80.0,
                             pace_per_second=4.4)  # fmt: skip
    for message in (
        started_message(1_000, 227.0, max_ids=10),
        too_many_for_a_job_message("Found 1,500 distinct RequestIds; at most 1,000 ..."),
        busy_message(2),
        progress_message(JOB, None, CTX),
        progress_message(JOB, progress, CTX),
        summary_message(JOB, summarize(rows), 230.0, CTX),
        stopped_message(JOB, 400, CTX),
    ):
        assert_valid_message(message)


def test_the_progress_message_shows_a_bar_the_counts_and_the_time_left() -> None:
    progress = BatchProgress(done=400, total=1_000, failed=2, elapsed_seconds=80.0,
                             pace_per_second=4.4)  # fmt: skip
    message = progress_message(JOB, progress, CTX)
    text = message["blocks"][0]["text"]["text"]
    assert text == (
        ":mag: *Triage of 1,000 RequestIds* · started by <@U0ALICE>\n"
        "`▰▰▰▰▱▱▱▱▱▱` 400 of 1,000 looked up · 2 lookups failed · about 2 min left"
    )
    assert "Demo" in json.dumps(message["blocks"][1])


def test_a_summary_of_a_thousand_failures_with_hostile_reasons_keeps_to_slacks_limits() -> None:
    hostile = "<!channel> <@U0BOSS> <https://evil.example|click> & " + "x" * 5_000
    rows = [_failed(n, f"{hostile} {n % 40}", exception=f"<!here>{n % 7}") for n in range(1_000)]
    message = summary_message(JOB, summarize(rows), 230.0, CTX)
    assert_valid_message(message)
    blocks = message["blocks"]
    assert len(json.dumps(blocks, ensure_ascii=False)) <= MESSAGE_CHAR_BUDGET
    rendered = json.dumps(message, ensure_ascii=False)
    for markup in ("<!channel>", "<!here>", "<@U0BOSS>", "<https://evil"):
        assert markup not in rendered
    assert "&lt;!channel&gt;" in rendered
    [resubmit] = [b for b in blocks if b["block_id"].endswith("-ts-resubmit")]
    assert "*To resubmit* (1,000)" in resubmit["text"]["text"]
    assert "…and 980 more: the CSV file lists them all." in resubmit["text"]["text"]


def test_a_malformed_user_id_is_never_turned_into_a_mention() -> None:
    job = TriageJobInfo(count=12, user_id="<!channel>")
    rows = [_failed(1, "bad")]
    summary = summarize(rows)
    assert "started by" not in json.dumps(summary_message(job, summary, 1.0, CTX))
    assert csv_comment(job, summary).startswith("The triage of 12 RequestIds is done")
