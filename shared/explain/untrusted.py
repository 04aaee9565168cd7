"""Text from outside (LeadSquared, people, argv) made inert before anything displays it.

One definition of what must never reach a screen, used by every front door (terminal cards,
Slack mrkdwn and plain text, MCP results, log lines): C0 and C1 control characters (``ESC``
starts terminal escape sequences, and so does the one-character C1 ``CSI``, U+009B), ``DEL``,
the bidirectional controls that make text read in an order other than it is stored (U+202A
to U+202E, U+2066 to U+2069, and the marks U+200E, U+200F, U+061C), zero-width characters
that hide text or split words invisibly (U+200B to U+200D, U+2060, U+FEFF), and the line and
paragraph separators U+2028 and U+2029, which some readers treat as line breaks and others
do not.

Each front door still escapes for its own medium afterwards (mrkdwn entities, rich ``Text``
instead of markup, JSON): this module only removes what no medium should show.
"""

from __future__ import annotations

import re

__all__ = ["inert", "inert_json"]

# Removed wherever text is shown: C0 controls except tab, line feed and carriage return
# (handled below), DEL and C1, bidi controls and marks, zero-width characters.
_INVISIBLE = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff"
)
_REMOVE = re.compile(f"[{_INVISIBLE}]")
# Line structure: CR LF and a lone CR (which returns the cursor to overwrite a line) become
# a line feed; so do the Unicode line and paragraph separators.
_LINE_BREAK = re.compile("\r\n?|[\u2028\u2029]")
_FLATTEN = re.compile("[\t\n]")
# In JSON text every character outside strings is ASCII, so these occur only inside strings.
_JSON_UNSAFE = re.compile(f"[{_INVISIBLE}\u2028\u2029]")


def inert(text: str, *, line_breaks: bool = True) -> str:
    """``text`` without anything that could control, reorder or hide what a reader sees.

    Runs in linear time (character classes only).

    Args:
        text: untrusted text.
        line_breaks: keep line feeds and tabs (every line break is a ``\\n``), for media
            that show several lines; otherwise they become spaces, for one-line places
            such as a title or a header.
    """
    text = _LINE_BREAK.sub("\n", _REMOVE.sub("", text))
    if not line_breaks:
        text = _FLATTEN.sub(" ", text)
    return text


def inert_json(json_text: str) -> str:
    """JSON text whose strings show their controls and invisible characters as ``\\uXXXX``.

    The data stays exact for whoever parses it (the escapes decode to the same strings), but
    a terminal that displays the text sees only visible characters. ``json.dumps`` already
    escapes C0 controls; this also covers C1, bidi and zero-width characters, which it
    writes raw with ``ensure_ascii=False``.
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)
