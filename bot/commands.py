"""What a ``/capture-status`` command, or a message given to the shortcut, asks for.

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
    "Help",
    "Lookup",
    "Metrics",
    "ParsedCommand",
    "message_texts",
    "parse_command",
]

HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
METRICS_WORDS = frozenset({"metrics", "queue", "health"})
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


ParsedCommand = Help | Metrics | Lookup


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
