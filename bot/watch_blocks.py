"""Block Kit for watches: "watching", "my watches", "stopped", thread settings, notifications.

Pure functions like :mod:`bot.blocks`, from the core's watch views
(:class:`~shared.service.watch_views.WatchView`, ``WatchEntry``, ``WatchNotice``). Every
string from LeadSquared or a person is escaped and cut; every message has a ``text``
fallback and says what to do next. A notification carries the request's card as
:func:`bot.blocks.lookup_messages` draws it, from the view the watch kept (always masked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.actions import COMMAND, STOP_WATCH, StopTarget
from bot.blocks import MESSAGE_CHAR_BUDGET, lookup_messages, notice_message, status_word
from bot.kit import (
    FALLBACK_TEXT,
    MAX_BLOCKS,
    SECTION_TEXT,
    Block,
    RenderContext,
    SlackMessage,
    button,
    context,
    context_line,
    divider,
    header,
    mention,
    section,
    size,
    slack_date,
)
from bot.mrkdwn import cut_escaped, escape, escape_cut
from shared import Explanation, WatchEntry, WatchNotice, WatchView

__all__ = [
    "MAX_LISTED_WATCHES",
    "WatchAnswer",
    "notification_message",
    "threads_message",
    "threads_need_a_channel",
    "unwatch_message",
    "watch_answer_message",
    "watches_message",
]

#: watches "my watches" lists at most (one block each, within Slack's 50 per message)
MAX_LISTED_WATCHES = 40
#: characters of blocks "my watches" takes at most (Slack refuses messages near 13k)
_LIST_CHAR_BUDGET = MESSAGE_CHAR_BUDGET - 500


@dataclass(frozen=True, slots=True)
class WatchAnswer:
    """How asking to watch one id went: the core's view, or why it could not be watched.

    Attributes:
        request_id: the RequestId asked for.
        view: the service's answer (watching now, final already, unknown id…).
        error: why the service refused (too many watches, cannot watch right now…).
    """

    request_id: str
    view: WatchView | None = None
    error: Explanation | None = None


def _code(request_id: str) -> str:
    return f"`{escape_cut(request_id, 80)}`"


def _answer_text(answer: WatchAnswer, budget: int) -> tuple[str, str]:
    """The mrkdwn of one answer (about ``budget`` characters at most), and its fallback line."""
    rid = _code(answer.request_id)
    short, long = max(60, budget * 3 // 10), max(100, budget // 2)
    watch = answer.view
    if watch is not None:
        e = watch.view.explanation
        status = escape_cut(status_word(watch.view), 50)
        message = escape_cut(watch.message, long)
        headline = escape_cut(e.headline, short)
        if watch.watching:
            text = f"🔔 *Watching* {rid} · {e.symbol} {status}: {headline}\n{message}"
            return text, f"Watching {answer.request_id}: {watch.message}"
        text = f"{e.symbol} *{status}* · {rid}: {headline}\n{message}"
        return text, f"{answer.request_id}: {status_word(watch.view)}. {watch.message}"
    error = answer.error
    assert error is not None
    text = (
        f"{error.symbol} *{escape_cut(error.headline, short)}* · {rid}\n"
        f"{escape_cut(error.what_happened, long)}"
    )
    return text, f"{answer.request_id}: {error.headline}"


def watch_answer_message(
    answers: Sequence[WatchAnswer], ctx: RenderContext, *, command: str = COMMAND
) -> SlackMessage:
    """The answer to ``watch <id> …`` or to **Notify me**: one line per id, in order.

    When every id failed for one reason (e.g. the store is down), that reason is said once.
    """
    errors = [a.error for a in answers]
    first = errors[0] if errors else None
    if first is not None and all(
        e is not None and (e.headline, e.what_happened) == (first.headline, first.what_happened)
        for e in errors
    ):
        return notice_message(first, command=command)
    cmd = escape_cut(command, 40)
    blocks: list[Block] = []
    lines: list[str] = []
    # every answer gets its share of what one message may hold (ten answers fit)
    budget = min(SECTION_TEXT - 200, MESSAGE_CHAR_BUDGET // max(1, len(answers)) - 250)
    for index, answer in enumerate(answers):
        text, line = _answer_text(answer, budget)
        blocks.append(section(f"{ctx.nonce}-w-{index}", text))
        lines.append(line)
    footer = [f"`{cmd} watches` lists the requests you watch, each with a Stop button."]
    blocks.append(context(f"{ctx.nonce}-w-ctx", [*footer, *context_line(ctx)]))
    return {"text": escape_cut("\n".join(lines), FALLBACK_TEXT), "blocks": blocks[:MAX_BLOCKS]}


def _where(entry: WatchEntry) -> str:
    """Where the person is told: a DM, and the thread of a channel message."""
    channel = entry.target.get("channel")
    if isinstance(channel, str) and entry.target.get("thread_ts"):
        return f"by DM and in a thread of {_channel(channel)}"
    return "by DM"


def _channel(channel: str) -> str:
    """``<#C…>`` for a well-formed channel id (Slack shows its name), else a plain word."""
    if channel[:1] in ("C", "G") and channel[1:].isalnum() and len(channel) <= 24:
        return f"<#{channel}>"
    return "a channel"


def _watch_block(entry: WatchEntry, block_id: str, *, show_account: bool) -> Block:
    """One of "my watches": the id, the last status, where and until when; a Stop button."""
    status = escape_cut(entry.last_status or "not checked yet", 50)
    account = f" · account *{escape_cut(entry.account, 40)}*" if show_account else ""
    checked = "" if entry.last_checked_at is not None else " (not checked yet)"
    text = (
        f"{_code(entry.request_id)} · *{status}*{checked}{account}\n"
        f"Told {_where(entry)} · until {slack_date(entry.expires_at, seconds=False)}"
    )
    stop = StopTarget(entry.subscriber_id, entry.request_id)
    return section(
        block_id, text, accessory=button(STOP_WATCH, "Stop", value=stop.encode(), style="danger")
    )


def watches_message(
    entries: Sequence[WatchEntry],
    ctx: RenderContext,
    *,
    command: str = COMMAND,
    note: str | None = None,
    show_account: bool = False,
) -> SlackMessage:
    """The person's watches, newest first, each with a Stop button (as many as Slack takes).

    Args:
        entries: the person's watches (the service's order).
        ctx: render nonce and time.
        command: the slash command, for the hints.
        note: a line shown first (e.g. which watch was just stopped), already plain text.
        show_account: name each watch's account (when the deployment has several).
    """
    n = ctx.nonce
    cmd = escape_cut(command, 40)
    blocks: list[Block] = [header(f"{n}-ws-head", "🔔 Requests you watch")]
    if note:
        blocks.append(context(f"{n}-ws-note", [escape_cut(note, 500)]))
    if not entries:
        blocks.append(
            section(
                f"{n}-ws-none",
                "You are not watching any capture request. Press *Notify me* on a card, or "
                f"type `{cmd} watch <RequestId>`, to be told when one is final.",
            )
        )
        text = "You are not watching any capture request."
        return {"text": (escape(note) + "\n" if note else "") + text, "blocks": blocks}
    listed = 0
    for index, entry in enumerate(list(entries)[:MAX_LISTED_WATCHES]):
        block = _watch_block(entry, f"{n}-ws-{index}", show_account=show_account)
        if size([*blocks, block]) > _LIST_CHAR_BUDGET:  # Slack refuses longer messages
            break
        blocks.append(block)
        listed += 1
    more = len(entries) - listed
    hints = [f"Stop one with its button, or `{cmd} unwatch <RequestId>`."]
    if more:
        hints.insert(0, f"…and {more} more (the oldest are not shown).")
    blocks.append(divider(f"{n}-ws-div"))
    blocks.append(context(f"{n}-ws-ctx", hints))
    count = len(entries)
    text = f"You watch {count} capture request{'s' if count != 1 else ''}."
    if note:
        text = f"{escape(note)}\n{text}"
    return {"text": cut_escaped(text, FALLBACK_TEXT), "blocks": blocks}


def unwatch_message(
    stopped: Sequence[tuple[str, int]], ctx: RenderContext, *, command: str = COMMAND
) -> SlackMessage:
    """The answer to ``unwatch <id> …``: for each id, stopped or not being watched."""
    cmd = escape_cut(command, 40)
    lines: list[str] = []
    for request_id, count in stopped:
        if count:
            lines.append(f"🔕 Stopped watching {_code(request_id)}: you will not be told about it.")
        else:
            lines.append(f"🤷 You were not watching {_code(request_id)}, so nothing changed.")
    blocks: list[Block] = [
        section(f"{ctx.nonce}-uw", "\n".join(lines)),
        context(f"{ctx.nonce}-uw-ctx", [f"`{cmd} watches` lists the requests you still watch."]),
    ]
    return {"text": cut_escaped("\n".join(lines), FALLBACK_TEXT), "blocks": blocks}


def threads_message(
    on: bool, *, changed: bool, unclear: str | None = None, command: str = COMMAND
) -> SlackMessage:
    """The thread-answer setting of a channel: just set, or as it stands."""
    cmd = escape_cut(command, 40)
    if on:
        state = (
            "*Thread answers are on in this channel.* A watch started from a card in a "
            "message here (its *Notify me* button) answers in that message's thread when the "
            "request is final, as well as by DM."
        )
        other = f"`{cmd} threads off` keeps the answers to DMs."
    else:
        state = (
            "*Thread answers are off in this channel.* Watches started here tell only the "
            "people who asked, by DM."
        )
        other = f"`{cmd} threads on` answers in the thread again."
    lead = "✅ Done. " if changed else ""
    if unclear:
        lead = f"Say `on` or `off` (not “{escape_cut(unclear, 40)}”). "
    text = f"{lead}{state}"
    blocks: list[Block] = [section("threads", text), context("threads-ctx", [other])]
    fallback = "Thread answers are on in this channel." if on else "Thread answers are off here."
    return {"text": fallback, "blocks": blocks}


def threads_need_a_channel(command: str = COMMAND) -> SlackMessage:
    """``threads`` asked in a DM, where the app tells people directly."""
    cmd = escape_cut(command, 40)
    text = (
        "*Thread answers are a channel setting.* Here, in a direct message, watches tell you "
        f"directly. Type `{cmd} threads on` or `off` in a channel to choose there."
    )
    return {
        "text": "Thread answers are a channel setting.",
        "blocks": [section("threads-dm", text)],
    }


def notification_message(
    notice: WatchNotice, ctx: RenderContext, *, for_user: str | None = None
) -> SlackMessage:
    """A watch ended: the sentence that says how, then the request's card (always masked).

    Args:
        notice: the core's notice (its ``view`` is masked: the store keeps no PII).
        ctx: when the watch ended, where from, demo or not, render nonce.
        for_user: the Slack user to name (a thread reply says whom it answers).
    """
    n = ctx.nonce
    headline = escape_cut(notice.headline, 600)
    who = mention(for_user)
    lead = f"🔔 {who} {headline}" if who else f"🔔 *{headline}*"
    blocks: list[Block] = [section(f"{n}-n-head", lead)]
    if notice.view is not None:
        [card] = lookup_messages([notice.view], ctx, shared=True)[:1]
        blocks.extend(card["blocks"])
    else:
        blocks.append(
            context(
                f"{n}-n-ctx",
                [
                    f"Look it up again with `{escape_cut(COMMAND, 40)} "
                    f"{escape_cut(notice.request_id, 80)}`.",
                    *context_line(ctx),
                ],
            )
        )
    return {"text": escape_cut(f"🔔 {notice.headline}", FALLBACK_TEXT), "blocks": blocks}
