"""Block Kit rendering: every sample and every error validates, and limits always hold."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from bot.actions import REFRESH, SHARE, CardTarget
from bot.blocks import (
    MESSAGE_CHAR_BUDGET,
    failure_message,
    help_message,
    lookup_messages,
    metrics_message,
    no_ids_in_message,
    notice_message,
    refusal_message,
    status_word,
)
from bot.home import Configuration, home_view, refused_home_view
from bot.kit import MAX_BLOCKS, RenderContext, SlackMessage, size
from shared.errors import (
    AuthenticationError,
    CaptureStatusError,
    RateLimitedError,
    RequestNotFoundError,
    ServerError,
    UpstreamTimeoutError,
)
from shared.explain.engine import Fact, Link, explain_error
from shared.lsq.client import CaptureStatusClient
from shared.lsq.models import QueueMetrics
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import QueueHealth
from shared.service.views import LookupView, look_up
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, SimulatorConfig, create_app
from tests.bot.conftest import assert_valid_home, assert_valid_message
from tests.conftest import SIM_KEY, fast_options

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
        [message] = lookup_messages([view], CTX)
        assert_valid_message(message)
        header = message["blocks"][0]["text"]["text"]
        assert header.startswith(f"{view.explanation.symbol} {status_word(view)} · ")
        assert (REFRESH in _actions(message["blocks"])) is (not view.explanation.is_final)
        assert SHARE in _actions(message["blocks"])


@pytest.mark.parametrize("count", [2, 3, 5])
async def test_several_samples_fit_one_message(every_view: list[LookupView], count: int) -> None:
    [message] = lookup_messages(every_view[:count], CTX)
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
    failed = QueueHealth(account="default", source="LeadSquared region sg", error=explanation)
    assert_valid_message(metrics_message([failed], CTX))
    view = LookupView(
        query=UNKNOWN_REQUEST_ID,
        request_id=UNKNOWN_REQUEST_ID,
        found=False,
        explanation=explanation,
    )
    [card] = lookup_messages([view], CTX)
    assert_valid_message(card)


def _oversized(view: LookupView, n: int, *, keep_final: bool = False) -> LookupView:
    e = view.explanation
    huge = e.model_copy(
        update={
            "headline": "<h>" * 400,
            "what_happened": "&" * 6000,
            "why": "w" * 9000,
            "facts": tuple(Fact(label="L" * 300, value="<v>" * 1000) for _ in range(25)),
            "next_steps": tuple("s" * 2000 for _ in range(12)),
            "is_final": e.is_final if keep_final else False,
            "links": (Link(label="Opportunity in LeadSquared", url=f"https://x.example/{n}"),) * 5,
            "status_raw": None if e.status_raw is None else e.status_raw + " Paused" * 40,
        }
    )
    query = view.query if keep_final else "q" * 500
    return view.model_copy(update={"explanation": huge, "query": query})


def _ids_in_headers(messages: Sequence[SlackMessage]) -> list[str]:
    return [
        str(b["text"]["text"]).rsplit(" · ", 1)[1]
        for m in messages
        for b in m["blocks"]
        if b["type"] == "header"
    ]


def _refresh_targets(message: SlackMessage) -> list[CardTarget | None]:
    values: list[Any] = [
        e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == REFRESH
    ]
    assert all(len(value) <= 2000 for value in values)  # Block Kit's limit on a value
    return [CardTarget.decode(value) for value in values]


def assert_every_message_fits(
    messages: Sequence[SlackMessage], views: Sequence[LookupView]
) -> None:
    """Valid Block Kit, within Slack's limits, every id answered once, in order, and one
    working Refresh per message for all its ids that may still change."""
    assert 1 <= len(messages) <= 5  # a response_url takes five messages
    for message in messages:
        assert_valid_message(message)
        assert len(message["blocks"]) <= MAX_BLOCKS
        assert size(message["blocks"]) <= MESSAGE_CHAR_BUDGET
        assert len(message["text"]) <= 3000
    assert _ids_in_headers(messages) == [v.request_id or v.query for v in views]
    by_id = {v.request_id: v for v in views}
    for message in messages:
        ids = tuple(i for i in _ids_in_headers([message]) if i in by_id)
        pending = tuple(i for i in ids if not by_id[i].explanation.is_final)
        targets = _refresh_targets(message)
        if not pending:
            assert targets == []
            continue
        [target] = targets
        assert target is not None
        assert target.message_ids == ids
        assert target.fresh_ids == pending


@pytest.mark.parametrize("count", [1, 2, 3, 5, 10])
async def test_oversized_explanations_are_cut_to_every_limit(
    every_view: list[LookupView], count: int
) -> None:
    views = [_oversized(every_view[n], n) for n in range(count)]
    messages = lookup_messages(views, CTX)
    for message in messages:
        assert_valid_message(message)  # every per-block limit, at most 50 blocks
        assert len(message["text"]) <= 3000
        assert size(message["blocks"]) <= MESSAGE_CHAR_BUDGET
    assert len([h for m in messages for h in m["blocks"] if h["type"] == "header"]) == count


def _lookup_failures() -> list[LookupView]:
    errors: list[CaptureStatusError] = [
        ServerError("down", http_status=503),
        UpstreamTimeoutError("slow"),
        RateLimitedError("throttled", http_status=429, retry_after=12),
    ]
    rids = ["0d6f3a52-1c1e-4f7a-9b1d-5a0a7c3e2f10", "7b0c8d4e-2f3a-4b5c-8d6e-9f0a1b2c3d4e"]
    rids.append("e3f1a2b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b")
    return [
        LookupView(
            query=rid,
            request_id=rid,
            found=False,
            explanation=explain_error(error, request_id=rid),
        )
        for rid, error in zip(rids, errors, strict=True)
    ]


@pytest.fixture
async def every_status(every_view: list[LookupView]) -> list[LookupView]:
    """Ten ids, one of each kind of answer: queued, created, duplicate, FAILURE, ERROR, a
    status nobody knows, not found, and three lookups that failed."""
    by_query = {v.query: v for v in every_view}
    names = ["in_queue", "created", "duplicate", "failure_unknown_exception", "error"]
    chosen = [by_query[SAMPLES[name].request_id] for name in names]
    chosen += [by_query[SAMPLES["unknown_status"].request_id], by_query[UNKNOWN_REQUEST_ID]]
    return chosen + _lookup_failures()


async def test_ten_ids_of_every_status_with_the_longest_texts_fit_slacks_limits(
    every_status: list[LookupView],
) -> None:
    longest = [_oversized(v, n, keep_final=True) for n, v in enumerate(every_status)]
    assert len(longest) == 10
    assert_every_message_fits(lookup_messages(longest, CTX), longest)
    assert_every_message_fits(lookup_messages(every_status, CTX), every_status)
    shared = lookup_messages(longest, CTX, shared=True, note="x" * 3000)
    assert_every_message_fits(shared, longest)


async def test_ten_ordinary_queued_ids_share_one_refresh_and_fit() -> None:
    app = create_app(SimulatorConfig(api_key=SIM_KEY, processing_seconds=3600))
    body = {
        "LeadDetails": [{"Attribute": "EmailAddress", "Value": "queued@example.com"}],
        "Opportunity": {"OpportunityEventCode": 12000, "Fields": [{"SchemaName": "a"}]},
    }
    ids = [app.state.simulator.submit(body) for _ in range(10)]
    async with CaptureStatusClient(
        fast_options(), SecretStr(SIM_KEY), transport=in_process_transport(app)
    ) as client:
        views = await look_up(client, ids)
    assert {v.explanation.status_raw for v in views} == {"In-Queue"}
    messages = lookup_messages(views, CTX)
    assert_every_message_fits(messages, views)  # one Refresh per message, not one per card


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
        health = QueueHealth(
            account="default", source="sg", metrics=metrics, reading="3 requests ahead"
        )
        message = metrics_message([health], CTX)
        assert_valid_message(message)


async def test_the_context_line_shows_when_where_who_and_demo(
    every_view: list[LookupView],
) -> None:
    ctx = RenderContext(1_700_000_000, "the LeadSquared simulator (demo)", True, "n", "U0ALICE")
    [message] = lookup_messages(every_view[:1], ctx, shared=True)
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
    ok = QueueHealth(account="default", source="sg", metrics=metrics, reading="queue is empty")
    assert_valid_home(home_view(config, CTX, healths=[ok]))
    failure = explain_error(ServerError("down", http_status=503))
    failed = QueueHealth(account="us", source="us11", error=failure)
    assert_valid_home(home_view(config, CTX, healths=[failed]))
    assert_valid_home(home_view(config, CTX, healths=[ok, failed]))
    assert_valid_home(refused_home_view("n1"))


async def test_many_long_next_steps_fit_one_section(every_view: list[LookupView]) -> None:
    view = every_view[0]
    steps = tuple(f"Step {n}: " + "do this carefully & check " * 22 for n in range(8))
    long_steps = view.model_copy(
        update={"explanation": view.explanation.model_copy(update={"next_steps": steps})}
    )
    [message] = lookup_messages([long_steps], CTX)
    assert_valid_message(message)
    [next_steps] = [b for b in message["blocks"] if b["block_id"].endswith("-next")]
    assert len(next_steps["text"]["text"]) <= 3000


def test_a_notice_fallback_is_escaped_exactly_once() -> None:
    explanation = explain_error(ServerError("A & B <down>", http_status=503))
    message = notice_message(explanation)
    assert "A &amp; B &lt;down&gt;" in message["text"]
    assert "&amp;amp;" not in json.dumps(message)
