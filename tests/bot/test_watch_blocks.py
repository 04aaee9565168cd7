"""Block Kit of watches: every message validates with slack-sdk's models and keeps to limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.actions import STOP_WATCH, WATCH, StopTarget
from bot.commands import (
    Help,
    Lookup,
    Threads,
    Unwatch,
    Watch,
    Watches,
    parse_command,
)
from bot.kit import MAX_BLOCKS, RenderContext, size
from bot.watch_blocks import (
    MAX_LISTED_WATCHES,
    WatchAnswer,
    notification_message,
    threads_message,
    threads_need_a_channel,
    unwatch_message,
    watch_answer_message,
    watches_message,
)
from shared import WatchEntry, WatchNotice, WatchView
from shared.errors import TooManyWatchesError, WatchUnavailableError
from shared.explain.engine import explain_error
from shared.lsq.client import CaptureStatusClient
from shared.service.views import LookupView, look_up
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID
from tests.bot.conftest import assert_valid_message

CTX = RenderContext(
    checked_at=1_700_000_000, upstream="LeadSquared region sg", demo=True, nonce="n1"
)
ALL_IDS = [sample.request_id for sample in SAMPLES.values()]
#: Slack rejects messages near 13k characters of blocks whatever each block's limits
SLACK_MESSAGE_CHARS = 12_000


@pytest.fixture
async def every_view(lookup_client: CaptureStatusClient) -> list[LookupView]:
    ids = [*ALL_IDS, UNKNOWN_REQUEST_ID]
    return await look_up(lookup_client, ids, app_base_url="https://run.leadsquared.example")


def _entry(number: int, **changes: Any) -> WatchEntry:
    values: dict[str, Any] = {
        "subscriber_id": number + 1,
        "request_id": f"{number:08x}-0000-4000-8000-000000000000",
        "account": "default",
        "family": "opportunity_capture",
        "last_status": "In-Queue",
        "started_at": 1_700_000_000.0 + number,
        "expires_at": 1_700_043_200.0,
        "last_checked_at": 1_700_000_100.0,
        "next_check_at": 1_700_000_200.0,
        "checks": 3,
        "target": {"team": "T0ACME", "user": "U0ALICE"},
    }
    values.update(changes)
    return WatchEntry(**values)


def _notice(view: LookupView | None, end: str) -> WatchNotice:
    rid = view.request_id if view is not None and view.request_id else UNKNOWN_REQUEST_ID
    return WatchNotice(
        subscriber_id=1,
        kind="slack",
        principal="slack:T0ACME:U0ALICE",
        target={"team": "T0ACME", "user": "U0ALICE"},
        request_id=rid,
        account="default",
        family="opportunity_capture",
        end=end,  # pyright: ignore[reportArgumentType]
        status=None,
        view=view,
        started_at=1_700_000_000.0,
        ended_at=1_700_000_600.0,
        attempts=1,
        headline=f"Capture request {rid} <!channel> ended ({end}) " + "x" * 2000,
    )


def _fits(message: Any) -> None:
    assert_valid_message(message)
    assert len(message["blocks"]) <= MAX_BLOCKS
    assert size(message["blocks"]) <= SLACK_MESSAGE_CHARS


@pytest.mark.parametrize("end", ["final", "expired", "failed"])
async def test_every_sample_makes_a_valid_notification_by_dm_and_in_a_thread(
    every_view: list[LookupView], end: str
) -> None:
    for view in [*every_view, None]:
        for for_user in (None, "U0ALICE", "<!here>"):
            message = notification_message(_notice(view, end), CTX, for_user=for_user)
            _fits(message)
            rendered = json.dumps(message["blocks"], ensure_ascii=False)
            assert "<!channel>" not in rendered  # upstream and core text stays text
            assert "<!here>" not in rendered  # only a well-formed user id is ever mentioned
            assert ("<@U0ALICE>" in rendered) == (for_user == "U0ALICE")
            assert "Share to channel" not in rendered


def test_my_watches_list_at_most_what_fits_with_a_stop_button_each() -> None:
    entries = [_entry(n) for n in range(MAX_LISTED_WATCHES + 5)]
    message = watches_message(entries, CTX, note="Stopped watching <!channel>.")
    _fits(message)
    stops = [
        StopTarget.decode(b["accessory"]["value"])
        for b in message["blocks"]
        if b.get("accessory", {}).get("action_id") == STOP_WATCH
    ]
    listed = len(stops)
    assert 20 <= listed <= MAX_LISTED_WATCHES  # newest first, as many as Slack takes
    assert [s.subscriber_id for s in stops if s is not None] == list(range(1, listed + 1))
    rendered = json.dumps(message["blocks"], ensure_ascii=False)
    assert f"…and {len(entries) - listed} more" in rendered
    assert "<!channel>" not in rendered + message["text"]


def test_where_a_watch_answers_is_said_and_hostile_places_stay_text() -> None:
    entries = [
        _entry(1, target={"team": "T", "user": "U", "channel": "C0OPS", "thread_ts": "1.2"}),
        _entry(2, target={"team": "T", "user": "U", "channel": "<!channel>", "thread_ts": "1"}),
        _entry(3, last_status="<https://evil|click>", last_checked_at=None, account="us"),
    ]
    message = watches_message(entries, CTX, show_account=True)
    _fits(message)
    rendered = json.dumps(message["blocks"], ensure_ascii=False)
    assert "by DM and in a thread of <#C0OPS>" in rendered
    assert "by DM and in a thread of a channel" in rendered
    assert "<!channel>" not in rendered
    assert "<https://evil" not in rendered
    assert "not checked yet" in rendered
    assert "account *us*" in rendered


def test_no_watches_says_how_to_start_one() -> None:
    message = watches_message([], CTX)
    _fits(message)
    assert "Notify me" in json.dumps(message["blocks"])


async def test_ten_watch_answers_of_every_kind_fit_one_message(
    every_view: list[LookupView],
) -> None:
    answers: list[WatchAnswer] = []
    for number, view in enumerate(every_view[:8]):
        rid = view.request_id or UNKNOWN_REQUEST_ID
        watching = not view.explanation.is_final
        answers.append(
            WatchAnswer(
                rid,
                view=WatchView(
                    request_id=rid,
                    account="default",
                    watching=watching,
                    new_watch=number % 2 == 0,
                    view=view,
                    message="Watching: you will be told once it is final (for up to 12 h).",
                ),
            )
        )
    answers.append(WatchAnswer(ALL_IDS[0], error=explain_error(TooManyWatchesError.for_person(50))))
    answers.append(WatchAnswer(ALL_IDS[1], error=explain_error(WatchUnavailableError.store_down())))
    message = watch_answer_message(answers, CTX)
    _fits(message)
    sections = [b for b in message["blocks"] if b["type"] == "section"]
    assert len(sections) == 10
    assert "Too many watches" in sections[8]["text"]["text"]
    assert "cannot watch right now" in sections[9]["text"]["text"]


async def test_ten_watch_answers_with_the_longest_texts_fit_one_message(
    every_view: list[LookupView],
) -> None:
    view = every_view[0]
    long_view = view.model_copy(
        update={
            "explanation": view.explanation.model_copy(
                update={"headline": "<h>" * 2000, "is_final": False}
            )
        }
    )
    answers = [
        WatchAnswer(
            rid,
            view=WatchView(
                request_id=rid,
                account="default",
                watching=True,
                view=long_view,
                message="&" * 5000,
            ),
        )
        for rid in ALL_IDS[:9]
    ]
    error = explain_error(WatchUnavailableError("<!channel> " * 1000))
    answers.append(WatchAnswer(ALL_IDS[9], error=error))
    message = watch_answer_message(answers, CTX)
    _fits(message)
    assert "<!channel>" not in json.dumps(message)


def test_one_reason_for_every_id_is_said_once() -> None:
    down = explain_error(WatchUnavailableError.store_down())
    message = watch_answer_message([WatchAnswer(rid, error=down) for rid in ALL_IDS[:5]], CTX)
    _fits(message)
    assert not any(rid in json.dumps(message) for rid in ALL_IDS[:5])


def test_unwatch_and_threads_answers_are_valid() -> None:
    _fits(unwatch_message([(ALL_IDS[0], 1), (ALL_IDS[1], 0)], CTX))
    for on in (True, False):
        for changed in (True, False):
            _fits(threads_message(on, changed=changed))
    unclear = threads_message(True, changed=False, unclear="<!everyone> maybe")
    _fits(unclear)
    assert "<!everyone>" not in json.dumps(unclear)
    _fits(threads_need_a_channel())


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "[]",
        '{"sub": true, "id": "bed6195c-e5a7-41b6-805a-c0aebbfd06be"}',
        '{"sub": -1, "id": "bed6195c-e5a7-41b6-805a-c0aebbfd06be"}',
        '{"sub": "7", "id": "bed6195c-e5a7-41b6-805a-c0aebbfd06be"}',
        '{"sub": 7, "id": "not-an-id"}',
        '{"sub": 7}',
        '{"sub": 7, "id": "' + "x" * 300 + '"}',
    ],
)
def test_a_stop_value_that_is_not_ours_is_refused(value: str | None) -> None:
    assert StopTarget.decode(value) is None


def test_a_stop_value_reads_back() -> None:
    target = StopTarget(42, ALL_IDS[0])
    assert StopTarget.decode(target.encode()) == target


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (f"watch {ALL_IDS[0]} {ALL_IDS[1]}", Watch(f"{ALL_IDS[0]} {ALL_IDS[1]}")),
        (f"WATCH\n{ALL_IDS[0]}", Watch(ALL_IDS[0])),
        ("watch", Watch("")),
        ("watches", Watches()),
        (f"unwatch {ALL_IDS[0]}", Unwatch(ALL_IDS[0])),
        ("threads on", Threads(on=True)),
        ("threads OFF", Threads(on=False)),
        ("threads", Threads(on=None)),
        ("threads perhaps", Threads(on=None, unclear="perhaps")),
        ("help", Help()),
        (ALL_IDS[0], Lookup(ALL_IDS[0])),
        (
            f"https://x.example/watch?id={ALL_IDS[0]}",
            Lookup(f"https://x.example/watch?id={ALL_IDS[0]}"),
        ),
    ],
)
def test_commands_name_what_they_ask_for(text: str, parsed: object) -> None:
    assert parse_command(text) == parsed


def test_notify_me_and_stop_have_their_own_action_ids() -> None:
    assert WATCH == "capture_status_watch"
    assert STOP_WATCH == "capture_status_stop_watch"
