"""Fixed bounds on untrusted upstream data, applied once, where an answer is parsed.

LeadSquared's answers are a few KB. A hostile or broken upstream can send far more: a
2 MB note, a run of 100,000 backslashes, a body nested 700 levels deep. Every such value is
cut here, before masking, explaining, rendering or caching sees it, so that each later step
costs at most a fixed amount per answer and no answer is kept in a form that cannot be
shown. Whatever is cut says so (``…[cut: N more characters]``): nothing is dropped silently.

- one string: at most :data:`MAX_TEXT` characters, cut at a word boundary so that the end
  of the kept text never holds a fragment of an email or phone number;
- one decoded field (``RequestBody``, ``Message``): at most :data:`MAX_DEPTH` levels,
  :data:`MAX_ITEMS` entries per object or array, :data:`MAX_NODES` values and
  :data:`MAX_FIELD_CHARS` characters of strings in all;
- a field that is not JSON, or longer than :data:`MAX_JSON_INPUT` characters (not decoded,
  so that reading it costs a bounded time): at most :data:`MAX_RAW` characters of its text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

__all__ = [
    "LARGE_ANSWER",
    "MAX_DEPTH",
    "MAX_FIELD_CHARS",
    "MAX_ITEMS",
    "MAX_JSON_INPUT",
    "MAX_NODES",
    "MAX_RAW",
    "MAX_TEXT",
    "BoundedJson",
    "bound_json",
    "cut_text",
    "within_bounds",
]

#: characters kept of one upstream string (a reason, a note, one value of a body)
MAX_TEXT = 2_000
#: characters of a RequestBody or Message read as JSON; a longer one is not decoded at all
MAX_JSON_INPUT = 256_000
#: characters kept of a RequestBody or Message that is not JSON
MAX_RAW = 16_000
#: string characters kept across one decoded RequestBody or Message
MAX_FIELD_CHARS = 16_000
#: entries kept of one object or array
MAX_ITEMS = 250
#: values kept across one decoded RequestBody or Message
MAX_NODES = 2_500
#: levels of nesting kept (LeadSquared's bodies have four)
MAX_DEPTH = 32

#: characters of upstream text past which an answer is read and rendered off the event loop
LARGE_ANSWER = 32_000

# How far a cut may move back to end on a word boundary.
_BOUNDARY_WINDOW = 64
# Characters that can continue an email, a phone number or a word: a cut between two of
# them moves back to the start of that token.
_TOKEN_PUNCTUATION = frozenset("@.+-_()%'")
_ITEMS_CUT_KEY = "…"
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def cut_text(text: str, limit: int = MAX_TEXT) -> str:
    """Keep at most ``limit`` characters of ``text``, ending on a word boundary.

    A lone UTF-16 surrogate (valid in JSON as ``\\ud800``, but not encodable as UTF-8, so
    it would break every output) becomes U+FFFD.

    Args:
        text: untrusted text.
        limit: the most characters kept (the marker saying what was cut comes on top).

    Returns:
        ``text`` itself when short enough; else its start, moved back to the last word
        boundary within 64 characters, followed by ``…[cut: N more characters]``.
    """
    if text.isascii():  # the common case, checked at C speed: no surrogate can be in it
        if len(text) <= limit:
            return text
    elif _SURROGATE.search(text) is not None:
        text = _SURROGATE.sub("\ufffd", text)
    if len(text) <= limit:
        return text
    end = limit
    floor = max(0, limit - _BOUNDARY_WINDOW)
    while end > floor and _is_token_char(text[end - 1]) and _is_token_char(text[end]):
        end -= 1
    return f"{text[:end]}…[cut: {len(text) - end:,} more characters]"


def _is_token_char(char: str) -> bool:
    return char.isalnum() or char in _TOKEN_PUNCTUATION


@dataclass(frozen=True, slots=True)
class BoundedJson:
    """Decoded JSON after :func:`bound_json`.

    Attributes:
        value: the bounded copy (the input itself when nothing was cut).
        cut: True when anything was cut.
    """

    value: Any
    cut: bool


class _Budget:
    __slots__ = ("chars", "cut", "nodes")

    def __init__(self) -> None:
        self.nodes = MAX_NODES
        self.chars = MAX_FIELD_CHARS
        self.cut = False


def within_bounds(text: str) -> bool:
    """True when JSON ``text`` cannot hold anything :func:`bound_json` would cut.

    A cheap check (counting characters, no parsing) that spares ordinary answers the walk:
    no string can be longer than the text, no container deeper than its opening brackets,
    and no container has more entries, nor the text more values, than it has separators.
    """
    return (
        len(text) <= min(MAX_TEXT, MAX_FIELD_CHARS)
        and ("\\u" not in text or _SURROGATE_ESCAPE.search(text) is None)
        and (text.isascii() or _SURROGATE.search(text) is None)
        and text.count("[") + text.count("{") <= MAX_DEPTH
        and text.count(",") + text.count(":") + 1 < min(MAX_ITEMS, MAX_NODES)
    )


def bound_json(value: Any) -> BoundedJson:
    """Bound decoded JSON in depth, width, number of values and characters.

    A container deeper than :data:`MAX_DEPTH` becomes the string ``…[cut: nested deeper
    than 32 levels]``; entries past :data:`MAX_ITEMS` (or past the value budget) become one
    marker entry saying how many were cut (a last array item, or the object key ``…``).

    Args:
        value: what ``json.loads`` returned (or an object sent as is).

    Returns:
        The bounded value and whether anything was cut.
    """
    budget = _Budget()
    bounded = _bound(value, 0, budget)
    return BoundedJson(value=bounded if budget.cut else value, cut=budget.cut)


def _bound(value: Any, depth: int, budget: _Budget) -> Any:
    budget.nodes -= 1
    if isinstance(value, str):
        return _bound_string(value, budget)
    if isinstance(value, Mapping | list):
        if depth >= MAX_DEPTH:
            budget.cut = True
            return f"…[cut: nested deeper than {MAX_DEPTH} levels]"
        if isinstance(value, list):
            return _bound_list(cast("list[Any]", value), depth, budget)
        return _bound_mapping(cast("Mapping[Any, Any]", value), depth, budget)
    return value


def _bound_string(text: str, budget: _Budget) -> str:
    limit = max(0, min(MAX_TEXT, budget.chars))
    if len(text) > limit:
        budget.cut = True
        text = cut_text(text, limit) if limit else f"…[cut: {len(text):,} characters]"
    elif _SURROGATE.search(text) is not None:
        budget.cut = True  # not cut, but changed: the walk must keep its copy
        text = cut_text(text, limit)
    budget.chars -= len(text)
    return text


def _bound_list(items: list[Any], depth: int, budget: _Budget) -> list[Any]:
    out: list[Any] = []
    for index, item in enumerate(items):
        if index >= MAX_ITEMS or budget.nodes <= 0:
            budget.cut = True
            out.append(f"…[cut: {len(items) - index:,} more items]")
            break
        out.append(_bound(item, depth + 1, budget))
    return out


def _bound_mapping(mapping: Mapping[Any, Any], depth: int, budget: _Budget) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for index, (key, item) in enumerate(mapping.items()):
        if index >= MAX_ITEMS or budget.nodes <= 0:
            budget.cut = True
            out[_ITEMS_CUT_KEY] = f"…[cut: {len(mapping) - index:,} more entries]"
            break
        name = _bound_string(key, budget) if isinstance(key, str) else key
        out[name] = _bound(item, depth + 1, budget)
    return out
