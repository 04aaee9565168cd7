"""Making untrusted text safe for Slack: mrkdwn escaping and cutting to Block Kit limits.

Everything that comes from LeadSquared or from a person is *data*: it goes through
:func:`escape_cut` before it is put into mrkdwn, so a stored ``<!channel>``, ``<@U123>`` or
``<https://evil|click>`` shows as text instead of pinging people or faking a link. The text
objects built around it also set ``verbatim`` so Slack does not turn bare words into
mentions or links.
"""

from __future__ import annotations

import re

from shared import inert

__all__ = ["ELLIPSIS", "cut", "cut_escaped", "escape", "escape_cut", "plain"]

ELLIPSIS = "…"
# Bare @channel/@here/@everyone are not mentions in app messages, but a zero-width space
# keeps them inert even if a client or a future parse mode would read them as one.
_BROADCAST_WORDS = re.compile(r"@(?=(?:channel|here|everyone))", re.IGNORECASE)
# an email address such as ops@channel.example.com is left as it is
_EMAIL_DOMAIN = re.compile(r"[\w.+-]@(?:channel|here|everyone)\.\w", re.IGNORECASE)


def escape(text: str) -> str:
    """``text`` made inert, with ``&``, ``<`` and ``>`` escaped for mrkdwn, broadcasts defused."""
    text = inert(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST_WORDS.sub(lambda m: _defuse(m, text), text)


def _defuse(match: re.Match[str], text: str) -> str:
    start = match.start()
    if start > 0 and _EMAIL_DOMAIN.match(text, start - 1):
        return "@"
    return "@\u200b"


def escape_cut(text: str, limit: int) -> str:
    """:func:`escape` ``text``, then cut it to ``limit`` characters without splitting ``&lt;``.

    Slack counts the escaped text against its limits, so the cut happens after escaping.
    """
    return cut_escaped(escape(text), limit)


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, ending with ``…`` when it was cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def plain(text: str, limit: int) -> str:
    """Text for a ``plain_text`` object (never parsed by Slack): inert, on one line, cut.

    Blank text becomes a dash, because Slack rejects empty text objects.
    """
    cleaned = " ".join(inert(text, line_breaks=False).split())
    return cut(cleaned or "-", limit)


def cut_escaped(escaped: str, limit: int) -> str:
    """Cut already escaped mrkdwn to ``limit`` characters without splitting an entity."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(escaped) <= limit:
        return escaped
    head = escaped[: limit - 1]
    # every '&' in escaped text starts an entity: drop one that the cut left unfinished
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head.rstrip() + ELLIPSIS
