"""Whatever LeadSquared sends, the message is valid Block Kit and carries no active markup."""

from __future__ import annotations

import re
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.blocks import lookup_messages
from bot.kit import RenderContext
from shared.errors import ServerError
from shared.explain.engine import Fact, Link, explain_error
from shared.service.views import LookupView
from tests.bot.conftest import assert_valid_message

CTX = RenderContext(1_700_000_000, "LeadSquared region sg", False, "p1")
_OURS = re.compile(r"^<!date\^\d+\^\{date_short_pretty\} at \{time_secs\}\|[^<>]*>$")
_RID = "c1d867a7-a325-4b68-954f-237dcd3c15e1"

_PIECES = ["<", ">", "&", "|", "!", "@", "*", "`", "\n", " ", "é", "😀", "a", "<!channel>", "@here"]
hostile = (
    st.lists(st.sampled_from(_PIECES), max_size=200).map("".join)
    | st.text(max_size=4000)
    | st.just("<https://evil.example|click> <@U0BOSS> @channel")
)


@st.composite
def views(draw: st.DrawFn) -> LookupView:
    base = explain_error(ServerError("down", http_status=503), request_id=_RID)
    explanation = base.model_copy(
        update={
            "headline": draw(hostile),
            "what_happened": draw(hostile),
            "why": draw(hostile),
            "status_raw": draw(st.none() | hostile),
            "facts": tuple(
                Fact(label=label, value=value)
                for label, value in draw(st.lists(st.tuples(hostile, hostile), max_size=14))
            ),
            "next_steps": tuple(draw(st.lists(hostile, max_size=8))),
            "is_final": draw(st.booleans()),
            "links": tuple(
                Link(label=label, url=f"https://run.leadsquared.example/x?id={n}")
                for n, label in enumerate(draw(st.lists(hostile, max_size=3)))
            ),
        }
    )
    return LookupView(query=_RID, request_id=_RID, found=False, explanation=explanation)


def _mrkdwn_texts(node: object) -> list[str]:
    if isinstance(node, dict):
        mapping = cast("dict[str, object]", node)
        found = [str(mapping["text"])] if mapping.get("type") == "mrkdwn" else []
        for value in mapping.values():
            found += _mrkdwn_texts(value)
        return found
    if isinstance(node, list):
        return [text for item in cast("list[object]", node) for text in _mrkdwn_texts(item)]
    return []


@settings(max_examples=60, deadline=None)
@given(st.lists(views(), min_size=1, max_size=10), st.booleans())
def test_any_explanation_renders_valid_and_inert(cards: list[LookupView], shared: bool) -> None:
    messages = lookup_messages(cards, CTX, shared=shared)
    for message in messages:
        assert_valid_message(message)
    texts = [t for m in messages for t in [*_mrkdwn_texts(m["blocks"]), m["text"]]]
    for text in texts:
        for markup in re.findall(r"<[^>]*>", text):
            assert _OURS.match(markup), markup
        assert "@here" not in text
        assert "@channel" not in text
