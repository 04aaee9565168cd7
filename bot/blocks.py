"""Block Kit for every answer: the Slack twin of :mod:`cli.terminal`.

Pure functions from the core's views (:class:`~shared.service.views.LookupView`,
:class:`~shared.explain.engine.Explanation`, :class:`~shared.lsq.models.QueueMetrics`) to message
dicts. Every string from LeadSquared or from a person is escaped and cut
(:mod:`bot.mrkdwn`); every message has a top-level ``text`` fallback; status is carried by a
symbol and a word, never by colour alone. Tests validate every block with slack-sdk's models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from enum import Enum
from typing import Any

from bot.actions import COMMAND, METRICS_REFRESH, OPEN_PREFIX, REFRESH, SHARE, WATCH, CardTarget
from bot.kit import (
    BUTTON_URL,
    CONTEXT_TEXT,
    FALLBACK_TEXT,
    MAX_BLOCKS,
    MAX_FIELDS,
    SECTION_TEXT,
    Block,
    RenderContext,
    SlackMessage,
    actions,
    button,
    checked_line,
    context,
    context_line,
    demo_note,
    divider,
    header,
    section,
    size,
)
from bot.mrkdwn import cut, cut_escaped, escape, escape_cut
from shared import REQUEST_ID_EXAMPLE, Explanation, LookupView, QueueHealth

__all__ = [
    "MESSAGE_CHAR_BUDGET",
    "failure_message",
    "health_blocks",
    "help_message",
    "lookup_messages",
    "metrics_message",
    "no_ids_in_message",
    "notice_message",
    "refusal_message",
    "status_word",
    "usage_text",
]

#: whole-message budget: Slack rejects large payloads even when each block is within limits
#: (msg_blocks_too_long near 13k characters, bolt-js #2509)
MESSAGE_CHAR_BUDGET = 11_000
#: cards shown in the full layout before a message switches to compact cards
FULL_LAYOUT_MAX_CARDS = 2

_ERROR_WORDS = {
    "not_found": "Not found",
    "rate_limited": "Throttled",
    "authentication": "Key refused",
    "server_error": "LeadSquared error",
    "timeout": "No answer",
    "connection": "Unreachable",
    "deadline_exceeded": "Timed out",
    "circuit_open": "Paused",
    "malformed_response": "Unreadable answer",
    "endpoint_not_found": "Wrong endpoint",
    "bad_request": "Rejected",
    "invalid_request_id": "Not an id",
    "too_many_ids": "Too many ids",
    "configuration": "Misconfigured",
}


class _Layout(Enum):
    FULL = "full"
    COMPACT = "compact"
    MINIMAL = "minimal"


def status_word(view: LookupView) -> str:
    """The status in one word or two, for the header: ``Success``, ``Not found``, …"""
    explanation = view.explanation
    if explanation.status_raw:
        return explanation.status_raw
    if view.error is not None:
        return _ERROR_WORDS.get(view.error.code, view.error.code.replace("_", " ").capitalize())
    return "Unknown"


def _fact_fields(explanation: Explanation, *, limit: int, value_limit: int) -> list[str]:
    facts = list(explanation.facts)
    fields = [
        f"*{escape_cut(f.label, 200)}*\n{escape_cut(f.value, value_limit)}"
        for f in facts[: limit if len(facts) <= limit else limit - 1]
    ]
    if len(facts) > limit:
        rest = "; ".join(f"{f.label}: {f.value}" for f in facts[limit - 1 :])
        fields.append(f"*Also*\n{escape_cut(rest, value_limit)}")
    return fields


def _steps(explanation: Explanation, *, each: int, total: int) -> str:
    joined = "\n".join(
        f"{number}. {escape_cut(step, each)}"
        for number, step in enumerate(explanation.next_steps, 1)
    )
    return cut_escaped(joined, total)


def _card_title(view: LookupView) -> str:
    """Symbol, status and id; a long status word is cut so the id always shows."""
    ident = cut(view.request_id or view.query, 80)
    return f"{view.explanation.symbol} {cut(status_word(view), 50)} · {ident}"


def _card_buttons(
    view: LookupView,
    *,
    refresh: bool,
    shared: bool,
    by: str | None,
    max_links: int,
) -> list[dict[str, Any]]:
    rid = view.request_id
    buttons: list[dict[str, Any]] = []
    if refresh and rid is not None and not view.explanation.is_final:
        target = CardTarget(
            rid, (rid,), shared=shared, by=by if shared else None, account=view.account
        )
        buttons.append(button(REFRESH, "Refresh", value=target.encode(), style="primary"))
    if rid is not None and not view.explanation.is_final:  # every card that can still change
        watch = CardTarget(rid, (rid,), account=view.account)
        buttons.append(button(WATCH, "Notify me", value=watch.encode()))
    if rid is not None and not shared:
        share = CardTarget(rid, (rid,), shared=True, account=view.account)
        buttons.append(button(SHARE, "Share to channel", value=share.encode()))
    for number, link in enumerate(view.explanation.links[:max_links]):
        if link.url.startswith(("https://", "http://")) and len(link.url) <= BUTTON_URL:
            label = link.label[:1].lower() + link.label[1:]
            buttons.append(button(f"{OPEN_PREFIX}_{number}", f"Open {label}", url=link.url))
    return buttons


def _card(
    view: LookupView,
    index: int,
    ctx: RenderContext,
    *,
    layout: _Layout,
    alone: bool,
    shared: bool,
) -> list[Block]:
    """One card; a card ``alone`` in its message carries its own checked line and Refresh."""
    e = view.explanation
    bid = f"{ctx.nonce}-{index}"
    blocks: list[Block] = [header(f"{bid}-head", _card_title(view))]
    headline = f"*{escape_cut(e.headline, 300)}*"
    if layout is _Layout.FULL:
        blocks.append(section(f"{bid}-what", f"{headline}\n{escape_cut(e.what_happened, 2500)}"))
        if e.why:
            blocks.append(section(f"{bid}-why", f"*Why*\n{escape_cut(e.why, 2800)}"))
        fields = _fact_fields(e, limit=MAX_FIELDS, value_limit=600)
        if fields:
            blocks.append(section(f"{bid}-facts", fields=fields))
        if e.next_steps:
            steps = _steps(e, each=600, total=SECTION_TEXT - 20)
            blocks.append(section(f"{bid}-next", f"*Next steps*\n{steps}"))
        footer = context_line(ctx) if alone else []
        if e.request_summary is not None:
            summary = escape_cut(e.request_summary.one_line(), 1000)
            footer.insert(0, f"*Submitted request:* {summary}")
        if footer:
            blocks.append(context(f"{bid}-ctx", footer))
    elif layout is _Layout.COMPACT:
        fields = _fact_fields(e, limit=4, value_limit=200)
        blocks.append(
            section(f"{bid}-what", f"{headline}\n{escape_cut(e.what_happened, 600)}", fields)
        )
        first_step = [f"*Next:* {escape_cut(e.next_steps[0], 400)}"] if e.next_steps else []
        footer = first_step + (context_line(ctx) if alone else [])
        if footer:
            blocks.append(context(f"{bid}-ctx", footer))
    else:
        step = f"\n{escape_cut(e.next_steps[0], 300)}" if e.next_steps else ""
        blocks.append(section(f"{bid}-what", headline + step))
        if alone:
            blocks.append(context(f"{bid}-ctx", [checked_line(ctx)]))
    max_links = {_Layout.FULL: 3, _Layout.COMPACT: 2, _Layout.MINIMAL: 1}[layout]
    buttons = _card_buttons(
        view, refresh=alone, shared=shared, by=ctx.shared_by, max_links=max_links
    )
    if buttons:
        blocks.append(actions(f"{bid}-act", buttons))
    return blocks


def _fallback(escaped_lines: Sequence[str]) -> str:
    return cut_escaped("\n".join(escaped_lines), FALLBACK_TEXT) or "capture-status"


# --- messages -------------------------------------------------------------------------


def lookup_messages(
    views: Sequence[LookupView],
    ctx: RenderContext,
    *,
    shared: bool = False,
    note: str | None = None,
) -> list[SlackMessage]:
    """The answer for looked-up ids: one card per id, in as few messages as Slack allows.

    Every message keeps to Slack's limits (at most 50 blocks, at most
    :data:`MESSAGE_CHAR_BUDGET` characters of blocks), and every id gets its card: one or two
    ids get the full card; more get compact cards in one message when they fit, else in
    several messages (each says which part it is), sent in order. A message with several
    cards has one Refresh for all of them (its value names the ids once); a single card
    keeps its own.

    Args:
        views: one view per id, in the order asked.
        ctx: when, where from, demo or not, render nonce, who shared.
        shared: render the copy shared in the channel (no Share button).
        note: a line shown above the cards of the first message (e.g. ids left out).
    """
    views = list(views)
    richest = _Layout.FULL if len(views) <= FULL_LAYOUT_MAX_CARDS else _Layout.COMPACT
    for layout in dict.fromkeys((richest, _Layout.COMPACT)):
        whole = _Page(views, [layout] * len(views), ctx, shared=shared, note=note)
        if whole.fits():
            return [whole.message()]
    pages = _pack(views, ctx, shared=shared, note=note)
    for number, page in enumerate(pages, 1):
        page.part = (number, len(pages))
    return [page.message() for page in pages]


class _Page:
    """The cards of one message, with the layout of each, and what the message adds."""

    def __init__(
        self,
        views: list[LookupView],
        layouts: list[_Layout],
        ctx: RenderContext,
        *,
        shared: bool,
        note: str | None,
        first: int = 0,
        total: int | None = None,
    ) -> None:
        self.views = views
        self.layouts = layouts
        self.ctx = ctx
        self.shared = shared
        self.note = note
        self.first = first
        self.total = total if total is not None else len(views)
        #: (number, of) when the answer takes several messages
        self.part: tuple[int, int] | None = None

    def with_card(self, view: LookupView, layout: _Layout) -> _Page:
        page = _Page(
            [*self.views, view],
            [*self.layouts, layout],
            self.ctx,
            shared=self.shared,
            note=self.note,
            first=self.first,
            total=self.total,
        )
        page.part = self.part
        return page

    def blocks(self) -> list[Block]:
        nonce = self.ctx.nonce
        blocks: list[Block] = []
        heading = self._heading()
        if heading:
            blocks.append(context(f"{nonce}-{self.first}-note", heading))
        single = len(self.views) == 1
        for offset, (view, layout) in enumerate(zip(self.views, self.layouts, strict=True)):
            index = self.first + offset
            if offset:
                blocks.append(divider(f"{nonce}-{index}-div"))
            blocks.extend(
                _card(view, index, self.ctx, layout=layout, alone=single, shared=self.shared)
            )
        if not single:  # what the cards share: when and where from, and one Refresh
            blocks.append(divider(f"{nonce}-{self.first}-end"))
            blocks.append(context(f"{nonce}-{self.first}-ctx", context_line(self.ctx)))
            refresh = self._refresh_all()
            if refresh is not None:
                blocks.append(actions(f"{nonce}-{self.first}-all", [refresh]))
        return blocks

    def _heading(self) -> list[str]:
        texts: list[str] = []
        if self.part is not None:
            number, of = self.part
            last = self.first + len(self.views)
            texts.append(
                f"*Part {number} of {of}*: requests {self.first + 1} to {last} of {self.total}"
            )
        if self.note and self.first == 0:
            texts.append(escape_cut(self.note, CONTEXT_TEXT))
        return texts

    def _refresh_all(self) -> dict[str, Any] | None:
        ids = tuple(dict.fromkeys(v.request_id for v in self.views if v.request_id is not None))
        pending = tuple(
            dict.fromkeys(
                v.request_id
                for v in self.views
                if v.request_id is not None and not v.explanation.is_final
            )
        )
        if not pending:
            return None
        by = self.ctx.shared_by if self.shared else None
        account = self.views[0].account
        target = CardTarget(
            pending[0], ids, shared=self.shared, by=by, fresh=pending, account=account
        )
        label = f"Refresh all {len(self.views)}"
        return button(REFRESH, label, value=target.encode(), style="primary")

    def fits(self) -> bool:
        blocks = self.blocks()
        return len(blocks) <= MAX_BLOCKS and size(blocks) <= MESSAGE_CHAR_BUDGET

    def message(self) -> SlackMessage:
        lines = [
            f"{v.explanation.symbol} {escape(status_word(v))} · "
            f"{escape_cut(v.request_id or v.query, 80)}: {escape_cut(v.explanation.headline, 200)}"
            for v in self.views
        ]
        if self.part is not None:
            lines.insert(0, f"Part {self.part[0]} of {self.part[1]}")
        return {"text": _fallback(lines), "blocks": self.blocks()}


def _pack(
    views: list[LookupView], ctx: RenderContext, *, shared: bool, note: str | None
) -> list[_Page]:
    """Cards in order, as many per message as fit; a card too big alone goes minimal.

    Each page is measured with the longest part line it could carry, so numbering the
    parts afterwards never pushes one over the limits.
    """
    worst_part = (len(views), len(views))
    pages: list[_Page] = []
    page: _Page | None = None
    for index, view in enumerate(views):
        if page is not None:
            grown = page.with_card(view, _Layout.COMPACT)
            if grown.fits():
                page = grown
                continue
            pages.append(page)
        page = None
        for layout in (_Layout.COMPACT, _Layout.MINIMAL):
            fresh = _Page(
                [view], [layout], ctx, shared=shared, note=note, first=index, total=len(views)
            )
            fresh.part = worst_part
            if fresh.fits() or layout is _Layout.MINIMAL:
                page = fresh
                break
    if page is not None:
        pages.append(page)
    return pages


def notice_message(
    explanation: Explanation, ctx: RenderContext | None = None, *, command: str = COMMAND
) -> SlackMessage:
    """A short answer that is not about one id: invalid input, too many ids, a failed check."""
    prefix = f"{ctx.nonce}-notice" if ctx is not None else "notice"
    text = (
        f"{explanation.symbol} *{escape_cut(explanation.headline, 300)}*\n"
        f"{escape_cut(explanation.what_happened, 1500)}"
    )
    blocks: list[Block] = [section(f"{prefix}-what", text)]
    if explanation.next_steps:
        blocks.append(section(f"{prefix}-next", _steps(explanation, each=500, total=SECTION_TEXT)))
    footer = [f"Type `{escape_cut(command, 40)} help` for usage and examples."]
    if ctx is not None:
        footer = context_line(ctx)
    blocks.append(context(f"{prefix}-ctx", footer))
    fallback = f"{explanation.symbol} {explanation.headline}: {explanation.what_happened}"
    return {"text": escape_cut(fallback, FALLBACK_TEXT), "blocks": blocks}


def help_message(command: str, *, max_ids: int, demo: bool, mask_pii: bool = True) -> SlackMessage:
    """Usage with examples (``help`` or an empty command)."""
    cmd = escape_cut(command, 40)
    blocks: list[Block] = [
        section(
            "help-intro",
            f"*{cmd}* explains LeadSquared Capture Opportunities requests: whether each one "
            "was created, is a duplicate, failed or is still queued, why, and what to do next.",
        ),
        section("help-usage", usage_text(cmd, max_ids=max_ids)),
        context(
            "help-examples",
            [
                f"Example: `{cmd} {REQUEST_ID_EXAMPLE}`",
                "Answers are visible only to you until you press *Share to channel*"
                + ("; personal data from the request is masked." if mask_pii else ".")
                + " A shared copy is always masked.",
            ],
        ),
    ]
    if demo:
        blocks.append(context("help-demo", [demo_note()]))
    return {
        "text": f"{cmd} <RequestId> [more ids…] | watch <id> … | watches | unwatch <id> | "
        f"threads on|off | metrics | help (up to {max_ids} ids at once)",
        "blocks": blocks,
    }


def usage_text(command: str, *, max_ids: int) -> str:
    """The usage lines shared by the help answer and the Home tab (``command`` escaped)."""
    return (
        "*How to use it*\n"
        f"• `{command} <RequestId>`: the status of one capture request. Paste the id alone, "
        "or the URL or log line that contains it.\n"
        f"• `{command} <id> <id> …`: up to {max_ids} requests at once, as cards. More start "
        "a triage job: progress in the conversation, then a summary and a CSV file of every "
        "row (personal data masked).\n"
        f"• `{command} watch <id> …`: tell me when each is final (Success or FAILURE), "
        f"up to {max_ids} at once; or press *Notify me* on a card. You get a DM from the app; "
        "a watch started from a card in a channel also answers in its thread.\n"
        f"• `{command} watches`: the requests you watch, each with a Stop button; "
        f"`{command} unwatch <id>` stops one.\n"
        f"• `{command} threads on|off`: whether watches started here answer in the "
        "message's thread (on by default).\n"
        f"• `{command} metrics`: the health of the Capture Opportunities queue.\n"
        f"• `{command} help`: this help.\n"
        "• Message shortcut *Check capture status* (the ⋮ menu of any message): looks up every "
        f"RequestId in that message (more than {max_ids}: a triage job)."
    )


def metrics_message(healths: Sequence[QueueHealth], ctx: RenderContext) -> SlackMessage:
    """Queue health of each account: pending requests, worst-case delay, processing rate.

    An account whose check failed shows the core's explanation instead of figures. Refresh
    is offered unless every check failed for good.
    """
    n = ctx.nonce
    several = len(healths) > 1
    blocks: list[Block] = [header(f"{n}-m-head", "📊 Capture Opportunities queue")]
    lines: list[str] = []
    for index, health in enumerate(healths):
        blocks.extend(health_blocks(health, f"{n}-m-{index}", named=several))
        name = f"{health.account}: " if several else ""
        if health.reading is not None:
            lines.append(f"{name}{health.reading}")
        elif health.error is not None:
            lines.append(f"{name}{health.error.headline}")
    only = healths[0] if len(healths) == 1 else None
    line_ctx = replace(ctx, account=only.account, upstream=only.source) if only else ctx
    blocks.append(context(f"{n}-m-ctx", context_line(line_ctx)))
    if any(h.ok or (h.error is not None and not h.error.is_final) for h in healths):
        blocks.append(actions(f"{n}-m-act", [button(METRICS_REFRESH, "Refresh", value="metrics")]))
    text = "📊 Capture Opportunities queue: " + escape_cut("; ".join(lines), 500)
    return {"text": text, "blocks": blocks[:MAX_BLOCKS]}


def health_blocks(health: QueueHealth, block_id: str, *, named: bool) -> list[Block]:
    """The figures of one account's queue (or why they are missing), for a message or Home."""
    title = (
        f"*{escape_cut(health.account, 40)}* · {escape_cut(health.source, 200)}\n" if named else ""
    )
    metrics = health.metrics
    if metrics is None:
        error = health.error
        assert error is not None
        return [
            section(
                block_id,
                f"{title}{error.symbol} *{escape_cut(error.headline, 300)}*\n"
                f"{escape_cut(error.what_happened, 1500)}",
            )
        ]

    def show(value: float | None, unit: str = "") -> str:
        return "unknown" if value is None else escape(f"{value:g}{unit}")

    return [
        section(
            block_id,
            f"{title}*{escape_cut(health.reading or '', 1000)}*",
            fields=[
                f"*Requests in queue*\n{show(metrics.pending_messages)}",
                f"*Worst-case delay*\n{show(metrics.max_delay_seconds, ' s')}",
                "*Processing rate (10-min average)*\n"
                f"{show(metrics.processing_rate_per_minute, ' per minute')}",
            ],
        )
    ]


def refusal_message(command: str) -> SlackMessage:
    """The polite answer to someone the allowlists leave out."""
    text = (
        f":no_entry: *{escape_cut(command, 40)} isn't enabled here.*\n"
        "The admins of this app limited it to certain workspaces, channels or people. "
        "Ask them if you need it here."
    )
    return {
        "text": f"{escape_cut(command, 40)} isn't enabled here.",
        "blocks": [section("refusal", text)],
    }


def failure_message() -> SlackMessage:
    """Something unexpected broke while answering (never a traceback in Slack)."""
    text = (
        ":warning: *capture-status could not finish this answer.*\n"
        "Something unexpected went wrong on its side. Try again in a minute; if it keeps "
        "happening, tell the admins of this app (the details are in its logs)."
    )
    return {
        "text": "capture-status could not finish this answer; try again in a minute.",
        "blocks": [section("failure", text)],
    }


def no_ids_in_message() -> SlackMessage:
    """The shortcut was used on a message without any RequestId."""
    text = (
        ":mag: *No RequestId in that message.*\n"
        f"A RequestId is a GUID such as `{REQUEST_ID_EXAMPLE}`: the RequestID the async API "
        "returned when the capture was queued. Use the shortcut on a message that contains one."
    )
    return {"text": "No RequestId in that message.", "blocks": [section("no-ids", text)]}
