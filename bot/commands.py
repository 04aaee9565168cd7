"""What a ``/capture-status`` command, or a message given to the shortcut, asks for.

``help``, ``metrics``, ``watch <id> …``, ``watches``, ``unwatch <id> …``, ``threads on|off``,
or ids to look up (anything else).

Pure functions: no Slack, no I/O. Which RequestIds a command's text holds, and whether
there are too many, is the service's call (``CaptureService.request_ids_in``); a message
given to the shortcut is searched here, with the core's ``find_request_ids``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

__all__ = [
    "HELP_WORDS",
    "METRICS_WORDS",
    "THREADS_WORDS",
    "UNWATCH_WORDS",
    "WATCHES_WORDS",
    "WATCH_WORDS",
    "Help",
    "Lookup",
    "Metrics",
    "ParsedCommand",
    "Threads",
    "Unwatch",
    "Watch",
    "Watches",
    "message_texts",
    "parse_command",
]

HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
METRICS_WORDS = frozenset({"metrics", "queue", "health"})
WATCH_WORDS = frozenset({"watch", "notify", "follow"})
WATCHES_WORDS = frozenset({"watches", "watching"})
UNWATCH_WORDS = frozenset({"unwatch", "unfollow"})
THREADS_WORDS = frozenset({"threads", "thread"})
_ON_WORDS = frozenset({"on", "yes", "true", "enable", "enabled"})
_OFF_WORDS = frozenset({"off", "no", "false", "disable", "disabled"})
# Keys of a Slack message whose string values people wrote or tools rendered. Ids such as
# client_msg_id, ts or block_id are GUID-shaped too, so the walk never looks at them.
_TEXT_KEYS = frozenset({"text", "fallback", "pretext", "title", "value", "url", "title_link"})
_CONTAINER_KEYS = frozenset({"blocks", "attachments", "elements", "fields", "text"})


@dataclass(frozen=True, slots=True)
class Help:
    """``help`` or an empty command: show the usage."""


@dataclass(frozen=True, slots=True)
class Metrics:
    """``metrics``: show the queue health."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """Look up the RequestIds written in this text (bare, or inside URLs and log lines)."""

    text: str


@dataclass(frozen=True, slots=True)
class Watch:
    """``watch <id> …``: tell me when each of these is final (``text``: what followed)."""

    text: str


@dataclass(frozen=True, slots=True)
class Watches:
    """``watches``: the requests I watch, with a Stop button each."""


@dataclass(frozen=True, slots=True)
class Unwatch:
    """``unwatch <id> …``: stop watching these (``text``: what followed)."""

    text: str


@dataclass(frozen=True, slots=True)
class Threads:
    """``threads on|off``: whether watches started in this channel answer in the thread.

    Attributes:
        on: the setting asked for; ``None``: show the setting (nothing, or an unclear word).
        unclear: the word given when it was neither on nor off.
    """

    on: bool | None
    unclear: str | None = None


ParsedCommand = Help | Metrics | Lookup | Watch | Watches | Unwatch | Threads


def parse_command(text: str | None) -> ParsedCommand:
    """Read the text typed after ``/capture-status``.

    Args:
        text: the command text as Slack sent it (may be empty or missing).
    """
    stripped = (text or "").strip()
    word = stripped.lower()
    if not stripped or word in HELP_WORDS:
        return Help()
    if word in METRICS_WORDS:
        return Metrics()
    verb, *more = stripped.split(maxsplit=1)
    verb, rest = verb.lower(), (more[0].strip() if more else "")
    if verb in WATCH_WORDS:
        return Watch(rest)
    if verb in WATCHES_WORDS:
        return Watches()
    if verb in UNWATCH_WORDS:
        return Unwatch(rest)
    if verb in THREADS_WORDS:
        setting = rest.lower()
        if setting in _ON_WORDS:
            return Threads(on=True)
        if setting in _OFF_WORDS:
            return Threads(on=False)
        return Threads(on=None, unclear=rest[:40] or None)
    return Lookup(stripped)


def message_texts(message: Mapping[str, Any]) -> list[str]:
    """Every text people wrote or tools rendered in a Slack message: its text, blocks and
    attachments (never the GUID-shaped ids Slack gives messages and blocks)."""
    texts: list[str] = []
    _collect_texts(message, texts, depth=0)
    return texts


def _collect_texts(node: object, out: list[str], *, depth: int) -> None:
    if depth > 12:  # messages are shallow; this only guards against odd payloads
        return
    if isinstance(node, Mapping):
        for key, value in cast("Mapping[object, object]", node).items():
            if not isinstance(key, str):
                continue
            if isinstance(value, str):
                if key in _TEXT_KEYS:
                    out.append(value)
            elif key in _CONTAINER_KEYS:
                _collect_texts(value, out, depth=depth + 1)
    elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
        for item in cast("Sequence[object]", node):
            _collect_texts(item, out, depth=depth + 1)
