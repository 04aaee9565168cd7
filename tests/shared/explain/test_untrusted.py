"""Untrusted text is made inert once, the same way for every front door."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.explain.untrusted import inert, inert_json

#: what must never reach a screen: C0, DEL, C1, bidi controls and marks, zero-width
NEVER_SHOWN = (
    [chr(c) for c in range(0x00, 0x20) if chr(c) not in "\t\n\r"]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u061c", "\u2060", "\ufeff"]
)
LINE_BREAKS = ["\r", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", NEVER_SHOWN, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_bidi_and_invisible_character_is_removed(char: str) -> None:
    assert inert(f"a{char}b") == "ab"
    assert inert(f"a{char}b", line_breaks=False) == "ab"


def test_a_terminal_escape_sequence_loses_its_escape_and_shows_as_text() -> None:
    assert inert("\x1b[31mred\x1b[0m \x9b2J \x1b]0;title\x07") == "[31mred[0m 2J ]0;title"


def test_a_right_to_left_override_cannot_reorder_a_file_name() -> None:
    assert inert("invoice\u202efdp.exe") == "invoicefdp.exe"


@pytest.mark.parametrize("char", LINE_BREAKS, ids=lambda c: f"U+{ord(c):04X}")
def test_other_line_breaks_become_a_line_feed_so_nothing_overwrites_a_line(char: str) -> None:
    assert inert(f"safe{char}FAKE") == "safe\nFAKE"
    assert inert(f"safe{char}FAKE", line_breaks=False) == "safe FAKE"


def test_line_feeds_and_tabs_stay_where_lines_are_shown_and_become_spaces_on_one_line() -> None:
    assert inert("a\r\nb\tc\n") == "a\nb\tc\n"
    assert inert("a\r\nb\tc", line_breaks=False) == "a b c"


def test_ordinary_text_in_any_script_is_left_alone() -> None:
    text = "José Ñúñez · प्रिया शर्मा · 北京 · عربى · ✅ 😀 a&b <x>"
    assert inert(text) == text


@given(st.text())
def test_nothing_that_must_not_show_survives_any_text(text: str) -> None:
    for result in (inert(text), inert(text, line_breaks=False)):
        assert not any(char in result for char in [*NEVER_SHOWN, *LINE_BREAKS])


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_keeps_the_exact_data_but_shows_no_invisible_character(data: object) -> None:
    text = inert_json(json.dumps(data, ensure_ascii=False, indent=2))
    assert json.loads(text) == data
    assert not any(char in text for char in [*NEVER_SHOWN, "\u2028", "\u2029"])
