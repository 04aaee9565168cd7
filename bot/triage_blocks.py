"""Block Kit for triage jobs: the first answer, the progress message, the summary, notices.

Pure functions, like :mod:`bot.blocks`. The progress message and the summary are posted in
the conversation for everyone, so they are built from masked rows only (the job looks up
with ``shared=True``) and every string from LeadSquared is escaped and cut
(:mod:`bot.mrkdwn`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.kit import (
    FALLBACK_TEXT,
    MAX_BLOCKS,
    Block,
    RenderContext,
    SlackMessage,
    checked_line,
    context,
    demo_note,
    header,
    mention,
    section,
)
from bot.mrkdwn import cut_escaped, escape_cut
from shared import BatchProgress, FailureGroup, TriageSummary, format_duration

__all__ = [
    "CLI_TRIAGE",
    "OUTCOME_WORDS",
    "TriageJobInfo",
    "busy_message",
    "csv_comment",
    "job_notice",
    "progress_message",
    "started_message",
    "stopped_message",
    "summary_message",
    "too_many_for_a_job_message",
]

#: the command that triages any number of ids (named whenever Slack's cap is reached)
CLI_TRIAGE = "capture-status triage"
#: each outcome of a triage row, as people read it, in the order summaries list them
OUTCOME_WORDS = {
    "created": "✅ Created",
    "duplicate": "🔁 Duplicate",
    "failed": "❌ Failed",
    "in_queue": "⏳ In queue",
    "error": "⚠️ Error (LeadSquared retries)",
    "unknown": "❔ Unknown status",
    "not_found": "🔍 Not found",
    "lookup_failed": "🚫 Lookup failed",
}
#: failure groups shown in a summary (the CSV has every row)
_GROUPS_SHOWN = 5
#: ids listed in a summary's "resubmit" and "look again" parts
_RESUBMIT_SHOWN = 20
_LOOK_AGAIN_SHOWN = 10
_BAR_CELLS = 10


@dataclass(frozen=True, slots=True)
class TriageJobInfo:
    """What every message of one job says about it.

    Attributes:
        count: ids in the job.
        user_id: the Slack user who started it.
    """

    count: int
    user_id: str

    def title(self) -> str:
        """``Triage of 12 RequestIds``."""
        return f"Triage of {self.count:,} RequestId{'s' if self.count != 1 else ''}"

    def started_by(self) -> str:
        """`` · started by <@U…>`` (empty for a malformed user id)."""
        who = mention(self.user_id)
        return f" · started by {who}" if who is not None else ""


def _ids(count: int) -> str:
    return f"{count:,} RequestId{'s' if count != 1 else ''}"


def started_message(count: int, eta_seconds: float, *, max_ids: int) -> SlackMessage:
    """The immediate answer to the person: a job of ``count`` ids started, and its ETA."""
    eta = format_duration(eta_seconds)
    text = (
        f":hourglass_flowing_sand: *Triage of {_ids(count)} started.*\n"
        f"It takes about {eta} at the pace LeadSquared's rate budget allows (people waiting "
        "for an answer go first). A progress message in this conversation is updated as it "
        "goes; then it turns into a summary, and a CSV file with one row per id follows "
        "(personal data masked)."
    )
    note = (
        f"More than {max_ids} ids at once become a triage job instead of cards. "
        "A job does not survive a restart of the app."
    )
    return {
        "text": f"Triage of {_ids(count)} started: about {eta}.",
        "blocks": [section("triage-started", text), context("triage-started-ctx", [note])],
    }


def too_many_for_a_job_message(refusal: str) -> SlackMessage:
    """More ids than one job takes: the core's refusal (the cap, and how to do more)."""
    headline = ":no_entry: *Not started: too many ids for one triage job.*"
    text = f"{headline}\n{escape_cut(refusal, 2_000)}"
    return {"text": refusal, "blocks": [section("triage-too-many", text)]}


def busy_message(running: int) -> SlackMessage:
    """The person already runs as many jobs as one person may."""
    jobs = f"{running} triage job{'s' if running != 1 else ''}"
    text = (
        f":no_entry: *You already run {jobs}, as many as one person may at once.*\n"
        "This one was not started. Try again when one of them has posted its summary, or "
        f"run `{CLI_TRIAGE}` from a terminal."
    )
    return {
        "text": f"You already run {jobs}; this one was not started.",
        "blocks": [section("triage-busy", text)],
    }


def _bar(done: int, total: int) -> str:
    filled = round(_BAR_CELLS * done / total) if total else _BAR_CELLS
    return "▰" * filled + "▱" * (_BAR_CELLS - filled)


def progress_message(
    job: TriageJobInfo, progress: BatchProgress | None, ctx: RenderContext
) -> SlackMessage:
    """The message in the conversation, updated in place while the job runs."""
    done = progress.done if progress is not None else 0
    line = f"`{_bar(done, job.count)}` {done:,} of {job.count:,} looked up"
    if progress is not None and progress.failed:
        line += f" · {progress.failed:,} lookup{'s' if progress.failed != 1 else ''} failed"
    if progress is not None and done < job.count:
        line += f" · about {format_duration(progress.eta_seconds)} left"
    text = f":mag: *{job.title()}*{job.started_by()}\n{line}"
    footer = [checked_line(ctx)] + ([demo_note()] if ctx.demo else [])
    n = ctx.nonce
    return {
        "text": f"{job.title()}: {done:,} of {job.count:,} looked up",
        "blocks": [section(f"{n}-tp", text), context(f"{n}-tp-ctx", footer)],
    }


def summary_message(
    job: TriageJobInfo, summary: TriageSummary, elapsed_seconds: float, ctx: RenderContext
) -> SlackMessage:
    """The summary the progress message turns into: counts, failure groups, what to resubmit.

    Built from masked rows; keeps to Slack's limits whatever the rows hold.
    """
    n = ctx.nonce
    counts = [(OUTCOME_WORDS[k], v) for k, v in summary.by_outcome.items() if v]
    blocks: list[Block] = [
        header(f"{n}-ts-head", f"📋 {job.title()}: done"),
        section(
            f"{n}-ts-what",
            f"Looked up in {format_duration(elapsed_seconds)}{job.started_by()}. "
            "Every row is in the CSV file below.",
            fields=[f"*{word}*\n{count:,}" for word, count in counts],
        ),
    ]
    for index, group in enumerate(summary.failures[:_GROUPS_SHOWN]):
        blocks.append(section(f"{n}-ts-g{index}", _group_text(group)))
    hidden = len(summary.failures) - _GROUPS_SHOWN
    if hidden > 0:
        blocks.append(
            context(f"{n}-ts-more", [f"{hidden:,} more failure groups: see the CSV file."])
        )
    if summary.resubmit:
        blocks.append(
            section(
                f"{n}-ts-resubmit",
                f"*To resubmit* ({len(summary.resubmit):,}): FAILURE is final, so fix each "
                "request, then send it again.\n" + _id_list(summary.resubmit, _RESUBMIT_SHOWN),
            )
        )
    if summary.look_again:
        blocks.append(
            section(
                f"{n}-ts-again",
                f"*Look again later* ({len(summary.look_again):,}): still in the queue, in "
                "ERROR (LeadSquared retries those), or the lookup failed.\n"
                + _id_list(summary.look_again, _LOOK_AGAIN_SHOWN),
            )
        )
    blocks.append(context(f"{n}-ts-ctx", [checked_line(ctx)] + ([demo_note()] if ctx.demo else [])))
    fallback = f"{job.title()}: done. " + ", ".join(
        f"{count:,} {word.split(' ', 1)[1].lower()}" for word, count in counts
    )
    return {"text": cut_escaped(fallback, FALLBACK_TEXT), "blocks": blocks[:MAX_BLOCKS]}


def _group_text(group: FailureGroup) -> str:
    word = OUTCOME_WORDS.get(group.outcome, group.outcome)
    kind = f" · `{escape_cut(group.exception_type, 120)}`" if group.exception_type else ""
    reason = f"\n{escape_cut(group.reason, 600)}" if group.reason else ""
    examples = ", ".join(f"`{escape_cut(rid, 80)}`" for rid in group.example_ids)
    return f"*{word}: {group.count:,}*{kind}{reason}\ne.g. {examples}"


def _id_list(ids: Sequence[str], shown: int) -> str:
    listed = "\n".join(escape_cut(rid, 80) for rid in ids[:shown])
    more = len(ids) - shown
    rest = f"\n…and {more:,} more: the CSV file lists them all." if more > 0 else ""
    return f"```{listed}```{rest}"


def stopped_message(job: TriageJobInfo, done: int, ctx: RenderContext) -> SlackMessage:
    """What the progress message says when a shutdown of the app stopped the job."""
    text = (
        f":octagonal_sign: *{job.title()}: stopped*{job.started_by()}\n"
        f"The app was restarted or stopped after {done:,} of {job.count:,} lookups. Triage "
        "jobs do not survive a restart yet: start it again, or run "
        f"`{CLI_TRIAGE}` from a terminal (it resumes from its output file)."
    )
    return {
        "text": f"{job.title()}: stopped by a restart of the app after {done:,} lookups.",
        "blocks": [
            section(f"{ctx.nonce}-tstop", text),
            context(f"{ctx.nonce}-tstop-ctx", [checked_line(ctx)]),
        ],
    }


def job_notice(job: TriageJobInfo, problem: str, advice: str) -> SlackMessage:
    """Something about a job went wrong: what (``problem``, already escaped) and what to do."""
    text = f":warning: *{job.title()}: {problem}*\n{advice}"
    return {
        "text": cut_escaped(f"{job.title()}: {problem}", FALLBACK_TEXT),
        "blocks": [section("triage-notice", text)],
    }


def csv_comment(job: TriageJobInfo, summary: TriageSummary) -> str:
    """The comment the CSV file is shared with (plain mrkdwn, masked rows)."""
    who = mention(job.user_id)
    lead = f"{who} the" if who is not None else "The"
    return (
        f"{lead} {job.title()[0].lower()}{job.title()[1:]} is done: "
        f"{summary.by_outcome.get('failed', 0):,} failed, "
        f"{len(summary.look_again):,} to look again. One row per id (personal data masked)."
    )
