"""Block Kit rendering: every sample and every error validates, and limits always hold."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from bot.actions import REFRESH, SHARE, CardTarget
from bot.blocks import (
    MESSAGE_CHAR_BUDGET,
    failure_message,
    help_message,
    lookup_message,
    metrics_failed_message,
    metrics_message,
    no_ids_in_message,
    notice_message,
    refusal_message,
    status_word,
)
from bot.home import Configuration, home_view, refused_home_view
from bot.kit import RenderContext
from shared.client import CaptureStatusClient
from shared.errors import (
    AuthenticationError,
    CaptureStatusError,
    RateLimitedError,
    RequestNotFoundError,
    ServerError,
    UpstreamTimeoutError,
)
from shared.explain import Fact, Link, explain_error
from shared.models import QueueMetrics
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID
from shared.views import LookupView, look_up
from tests.bot.conftest import assert_valid_home, assert_valid_message

CTX = RenderContext(
    checked_at=1_700_000_000, upstream="LeadSquared region sg", demo=False, nonce="n1"
)
ALL_IDS = [sample.request_id for sample in SAMPLES.values()]


@pytest.fixture
async def every_view(lookup_client: CaptureStatusClient) -> list[LookupView]:
    ids = [*ALL_IDS, UNKNOWN_REQUEST_ID]
    return await look_up(lookup_client, ids, app_base_url="https://run.leadsquared.example")


def _actions(blocks: Sequence[dict[str, object]]) -> list[str]:
    return [
        str(e["action_id"])  # pyright: ignore[reportUnknownArgumentType]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]  # pyright: ignore[reportGeneralTypeIssues, reportUnknownVariableType]
    ]


async def test_every_sample_renders_alone_as_a_valid_card(every_view: list[LookupView]) -> None:
    for view in every_view:
        message = lookup_message([view], CTX)
        assert_valid_message(message)
        header = message["blocks"][0]["text"]["text"]
        assert header.startswith(f"{view.explanation.symbol} {status_word(view)} · ")
        assert (REFRESH in _actions(message["blocks"])) is (not view.explanation.is_final)
        assert SHARE in _actions(message["blocks"])


@pytest.mark.parametrize("count", [2, 3, 5, 10])
async def test_several_samples_fit_one_message(every_view: list[LookupView], count: int) -> None:
    message = lookup_message(every_view[:count], CTX)
    assert_valid_message(message)
    assert len(json.dumps(message["blocks"], ensure_ascii=False)) <= MESSAGE_CHAR_BUDGET
    assert len([b for b in message["blocks"] if b["type"] == "header"]) == count


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("refused", http_status=401),
        RateLimitedError("throttled", http_status=429, retry_after=12),
        RequestNotFoundError("nope", http_status=404, request_id=UNKNOWN_REQUEST_ID),
        ServerError("down", http_status=503),
        UpstreamTimeoutError("slow"),
    ],
)
def test_every_error_explanation_renders_as_a_notice_and_a_card(error: Exception) -> None:
    assert isinstance(error, CaptureStatusError)
    explanation = explain_error(error, request_id=UNKNOWN_REQUEST_ID)
    assert_valid_message(notice_message(explanation))
    assert_valid_message(notice_message(explanation, CTX))
    assert_valid_message(metrics_failed_message(explanation, CTX))
    view = LookupView(
        query=UNKNOWN_REQUEST_ID,
        request_id=UNKNOWN_REQUEST_ID,
        found=False,
        explanation=explanation,
    )
    assert_valid_message(lookup_message([view], CTX))


def _oversized(view: LookupView, n: int) -> LookupView:
    e = view.explanation
    huge = e.model_copy(
        update={
            "headline": "<h>" * 400,
            "what_happened": "&" * 6000,
            "why": "w" * 9000,
            "facts": tuple(Fact(label="L" * 300, value="<v>" * 1000) for _ in range(25)),
            "next_steps": tuple("s" * 2000 for _ in range(12)),
            "is_final": False,
            "links": (Link(label="Opportunity in LeadSquared", url=f"https://x.example/{n}"),) * 5,
        }
    )
    return view.model_copy(update={"explanation": huge, "query": "q" * 500})


@pytest.mark.parametrize("count", [1, 2, 3, 5, 10])
async def test_oversized_explanations_are_cut_to_every_limit(
    every_view: list[LookupView], count: int
) -> None:
    views = [_oversized(every_view[n], n) for n in range(count)]
    message = lookup_message(views, CTX)
    assert_valid_message(message)  # every per-block limit, at most 50 blocks
    assert len(message["text"]) <= 3000
    assert len([b for b in message["blocks"] if b["type"] == "header"]) == count
    if count <= 5:  # ten cards of absurd size may exceed the soft whole-message budget
        assert len(json.dumps(message["blocks"], ensure_ascii=False)) <= MESSAGE_CHAR_BUDGET


async def test_refresh_values_stay_well_under_slacks_limit(every_view: list[LookupView]) -> None:
    ids = tuple(ALL_IDS[:10])
    value = CardTarget(ids[0], ids, shared=True, by="U0ALICE").encode()
    assert len(value) < 1000
    assert CardTarget.decode(value) == CardTarget(ids[0], ids, shared=True, by="U0ALICE")


def test_static_messages_are_valid() -> None:
    for message in (
        help_message("/capture-status", max_ids=10, demo=True),
        help_message("/capture-status", max_ids=10, demo=False),
        refusal_message("/capture-status"),
        failure_message(),
        no_ids_in_message(),
    ):
        assert_valid_message(message)


def test_metrics_with_unknown_figures_are_valid() -> None:
    for metrics in (
        QueueMetrics(pending_messages=3, max_delay_seconds=120, processing_rate_per_minute=24.8),
        QueueMetrics(
            pending_messages=None, max_delay_seconds=None, processing_rate_per_minute=None
        ),
    ):
        message = metrics_message(metrics, "3 requests ahead", CTX)
        assert_valid_message(message)


async def test_the_context_line_shows_when_where_who_and_demo(
    every_view: list[LookupView],
) -> None:
    ctx = RenderContext(1_700_000_000, "the LeadSquared simulator (demo)", True, "n", "U0ALICE")
    message = lookup_message(every_view[:1], ctx, shared=True)
    [footer] = [b for b in message["blocks"] if b["type"] == "context"]
    texts = [e["text"] for e in footer["elements"]]
    assert texts[1] == (
        "Checked <!date^1700000000^{date_short_pretty} at {time_secs}|2023-11-14 22:13:20 UTC>"
        " · the LeadSquared simulator (demo)"
    )
    assert texts[2] == "Shared by <@U0ALICE>"
    assert "*Demo*" in texts[3]


def test_home_views_are_valid_and_fit() -> None:
    config = Configuration(
        upstream="LeadSquared region sg",
        demo=True,
        budget="23 calls per 5 s",
        max_ids=10,
        mask_pii=True,
        links="off",
        access="everyone in the workspace",
        connection="Socket Mode",
    )
    metrics = QueueMetrics(pending_messages=0, max_delay_seconds=0, processing_rate_per_minute=0)
    assert_valid_home(home_view(config, CTX, metrics=metrics, reading="queue is empty"))
    failure = explain_error(ServerError("down", http_status=503))
    assert_valid_home(home_view(config, CTX, health_error=failure))
    assert_valid_home(refused_home_view("n1"))


async def test_many_long_next_steps_fit_one_section(every_view: list[LookupView]) -> None:
    view = every_view[0]
    steps = tuple(f"Step {n}: " + "do this carefully & check " * 22 for n in range(8))
    long_steps = view.model_copy(
        update={"explanation": view.explanation.model_copy(update={"next_steps": steps})}
    )
    message = lookup_message([long_steps], CTX)
    assert_valid_message(message)
    [next_steps] = [b for b in message["blocks"] if b["block_id"].endswith("-next")]
    assert len(next_steps["text"]["text"]) <= 3000


def test_a_notice_fallback_is_escaped_exactly_once() -> None:
    explanation = explain_error(ServerError("A & B <down>", http_status=503))
    message = notice_message(explanation)
    assert "A &amp; B &lt;down&gt;" in message["text"]
    assert "&amp;amp;" not in json.dumps(message)
