"""Block Kit building blocks with Slack's limits applied, shared by messages and App Home.

Every mrkdwn text object is ``verbatim`` (Slack must not turn words into mentions or links
by itself); callers escape untrusted text with :mod:`bot.mrkdwn` before it gets here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from bot.mrkdwn import escape_cut, plain

__all__ = [
    "BUTTON_TEXT",
    "BUTTON_URL",
    "CONTEXT_TEXT",
    "FALLBACK_TEXT",
    "FIELD_TEXT",
    "HEADER_TEXT",
    "MAX_BLOCKS",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_FIELDS",
    "MAX_HOME_BLOCKS",
    "SECTION_TEXT",
    "Block",
    "RenderContext",
    "SlackMessage",
    "actions",
    "button",
    "checked_line",
    "context",
    "context_line",
    "demo_note",
    "divider",
    "header",
    "mention",
    "section",
    "size",
    "slack_date",
]

Block = dict[str, Any]

# Block Kit limits (docs.slack.dev/reference/block-kit; slack-sdk validates most of them).
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75
FIELD_TEXT = 2000
MAX_FIELDS = 10
CONTEXT_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
BUTTON_URL = 3000
#: our cap for the top-level ``text`` (Slack truncates at 40,000)
FALLBACK_TEXT = 3000

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


class SlackMessage(TypedDict):
    """A message for ``respond()``, ``ack()`` or ``chat.postEphemeral``."""

    text: str
    blocks: list[Block]


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What every answer shows besides the data.

    Attributes:
        checked_at: when the lookup was made (Unix seconds).
        upstream: where the answer came from, e.g. ``LeadSquared region sg`` (never a secret).
        demo: the answer comes from the simulator.
        nonce: makes this render's block ids unique (Slack wants new ids on each update).
        shared_by: the Slack user id of whoever shared the card in the channel.
        account: the LeadSquared account that answered (configured names only).
    """

    checked_at: float
    upstream: str
    demo: bool
    nonce: str
    shared_by: str | None = None
    account: str | None = None


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text or " ", "verbatim": True}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": plain(text, limit), "emoji": True}


def header(block_id: str, text: str) -> Block:
    """A header block (plain text, cut to 150 characters)."""
    return {"type": "header", "block_id": block_id, "text": _plain(text, HEADER_TEXT)}


def section(
    block_id: str,
    text: str | None = None,
    fields: Sequence[str] = (),
    *,
    accessory: dict[str, Any] | None = None,
) -> Block:
    """A section of already escaped mrkdwn, with up to 10 fields and an optional accessory
    (e.g. a :func:`button`)."""
    block: Block = {"type": "section", "block_id": block_id}
    if text is not None:
        block["text"] = _mrkdwn(text)
    if fields:
        block["fields"] = [_mrkdwn(field) for field in list(fields)[:MAX_FIELDS]]
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context(block_id: str, texts: Sequence[str]) -> Block:
    """A context block of already escaped mrkdwn elements (at most 10)."""
    elements = [_mrkdwn(t) for t in texts if t][:MAX_CONTEXT_ELEMENTS]
    return {"type": "context", "block_id": block_id, "elements": elements or [_mrkdwn(" ")]}


def divider(block_id: str) -> Block:
    """A divider."""
    return {"type": "divider", "block_id": block_id}


def button(
    action_id: str,
    text: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
) -> dict[str, Any]:
    """A button element; ``url`` makes it a link button."""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(text, BUTTON_TEXT),
    }
    if value is not None:
        element["value"] = value
    if url is not None:
        element["url"] = url
    if style is not None:
        element["style"] = style
    return element


def actions(block_id: str, elements: list[dict[str, Any]]) -> Block:
    """An actions block."""
    return {"type": "actions", "block_id": block_id, "elements": elements}


def size(blocks: Sequence[Block]) -> int:
    """Characters the blocks take in a payload."""
    return len(json.dumps(blocks, ensure_ascii=False))


def slack_date(epoch: float, *, seconds: bool = True) -> str:
    """A date Slack shows in each reader's own time zone (``Today at 14:02:11``)."""
    when = datetime.fromtimestamp(epoch, UTC)
    fallback = when.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
    time = "{time_secs}" if seconds else "{time}"
    return f"<!date^{int(epoch)}^{{date_short_pretty}} at {time}|{fallback}>"


def checked_line(ctx: RenderContext) -> str:
    """``Checked <date> · <upstream> · account <name>``, in each reader's own time zone."""
    account = f" · account *{escape_cut(ctx.account, 40)}*" if ctx.account else ""
    return f"Checked {slack_date(ctx.checked_at)} · {escape_cut(ctx.upstream, 200)}{account}"


def demo_note() -> str:
    """The label every demo answer carries."""
    return ":test_tube: *Demo*: answers come from the built-in simulator, not from LeadSquared."


def mention(user_id: str | None) -> str | None:
    """``<@U…>`` for a well-formed Slack user id, else ``None`` (nothing else is ever pinged)."""
    if user_id is None or not _USER_ID.match(user_id):
        return None
    return f"<@{user_id}>"


def context_line(ctx: RenderContext) -> list[str]:
    """The context elements of an answer: when and where from, who shared it, demo or not."""
    texts = [checked_line(ctx)]
    by = mention(ctx.shared_by)
    if by is not None:
        texts.append(f"Shared by {by}")
    if ctx.demo:
        texts.append(demo_note())
    return texts
