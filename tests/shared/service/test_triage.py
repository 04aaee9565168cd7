"""Triage rows and summaries of every answer the simulator gives, and their files."""

from __future__ import annotations

import csv
import io
import json
from typing import Literal

import pytest

from shared.guard.lanes import Caller
from shared.service.capture_service import CaptureService
from shared.service.triage import (
    OUTCOMES,
    TRIAGE_COLUMNS,
    TriageRow,
    in_input_order,
    rows_from_file,
    summarize,
    triage_csv,
    triage_jsonl,
    triage_row,
)
from shared.service.views import LookupView
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Fault, FaultKind, Sample, Simulator
from tests.shared.service.conftest import BULK, submitted_ids

SAMPLES_IDS = tuple(sample.request_id for sample in SAMPLES.values())
#: the outcome a triage row gives each sample, from what the sample says it is
_BY_STATUS = {"FAILURE": "failed", "ERROR": "error", "In-Queue": "in_queue"}


def _expected_outcome(sample: Sample) -> str:
    if sample.expected_status == "Success":
        assert sample.expected_outcome is not None
        return sample.expected_outcome
    return _BY_STATUS.get(sample.expected_status, "unknown")


async def _views(
    service: CaptureService, ids: list[str], caller: Caller = BULK
) -> list[LookupView]:
    return [view async for view in service.look_up_many(ids, caller=caller)]


async def _sample_rows(service: CaptureService) -> dict[str, TriageRow]:
    """The row of every sample, by sample name."""
    names = {sample.request_id: name for name, sample in SAMPLES.items()}
    views = await _views(service, list(names))
    return {names[row.request_id]: row for row in map(triage_row, views)}


async def test_every_sample_maps_to_the_outcome_it_stands_for(
    batch_service: CaptureService,
) -> None:
    rows = await _sample_rows(batch_service)
    assert set(rows) == set(SAMPLES)
    for name, sample in SAMPLES.items():
        assert rows[name].outcome == _expected_outcome(sample), name
        assert rows[name].account == "default"
    # the outcomes the samples cover, beyond those a lookup failure gives
    assert {row.outcome for row in rows.values()} == set(OUTCOMES) - {"not_found", "lookup_failed"}


async def test_the_exception_type_is_found_wherever_the_answer_carries_it(
    batch_service: CaptureService,
) -> None:
    rows = await _sample_rows(batch_service)
    for name, sample in SAMPLES.items():
        assert rows[name].exception_type == (sample.exception_type or ""), name
    # carried in the StatusReason text only, not in a Message
    assert rows["failure_duplicate_entry"].exception_type == "MXDuplicateEntryException"
    assert rows["failure_mandatory_attribute_missing"].reason.startswith(
        "MXMandatoryAttributeMissingException:"
    )


async def test_each_status_is_counted_under_one_spelling(batch_service: CaptureService) -> None:
    rows = await _sample_rows(batch_service)
    assert rows["success_lowercase"].status == "Success"
    assert rows["failure_titlecase"].status == "FAILURE"
    assert rows["in_queue_lowercase"].status == "In-Queue"
    assert rows["unknown_status"].status == "Paused"  # an unknown status is kept as sent
    by_status = summarize(list(rows.values())).by_status
    assert set(by_status) == {"Success", "FAILURE", "ERROR", "In-Queue", "Paused"}
    assert by_status["In-Queue"] == 2


async def test_rows_of_ids_not_found_and_of_failed_lookups(
    batch_service: CaptureService, batch_sim: Simulator
) -> None:
    (missing,) = await _views(batch_service, [UNKNOWN_REQUEST_ID])
    batch_sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503))
    (failed,) = await _views(batch_service, [SAMPLES["created"].request_id])
    not_found, lookup_failed = triage_row(missing), triage_row(failed)
    assert (not_found.outcome, not_found.exception_type) == ("not_found", "not_found")
    assert not_found.request_id == UNKNOWN_REQUEST_ID
    assert (lookup_failed.outcome, lookup_failed.exception_type) == (
        "lookup_failed",
        "server_error",
    )
    assert "HTTP 503" in lookup_failed.reason
    assert not lookup_failed.settled
    assert not_found.settled


async def test_answers_from_a_misbehaving_host_become_rows_of_one_bounded_line(
    batch_service: CaptureService, batch_sim: Simulator
) -> None:
    rid = "0badc0de-0000-4000-8000-000000000001"
    batch_sim.put_answer(
        rid,
        {
            "Status": "=Paused\r\nby ops " + "x" * 5_000,
            "StatusReason": "line one\nline two, mail ada@example.com " + "y" * 1_000,
            "Message": json.dumps(
                {
                    "ExceptionType": "MXOdd\nException" + "z" * 500,
                    "ExceptionMessage": "boom",
                    "CreatedOpportunityId": "=1+1\n" + "9" * 500,
                }
            ),
        },
    )
    (row,) = map(triage_row, await _views(batch_service, [rid]))
    assert row.outcome == "unknown"
    for column in ("status", "exception_type", "reason", "opportunity_id", "lead_id"):
        value: str = getattr(row, column)
        assert "\n" not in value, column
        assert "\r" not in value, column
        assert len(value) <= 300, column
    assert row.status.startswith("=Paused by ops")
    assert row.reason.startswith("line one line two")
    assert "ada@example.com" not in row.reason  # masked like every other output
    assert "ada@example.com" not in triage_csv([row])


async def test_the_summary_counts_groups_and_picks_what_to_do(
    batch_service: CaptureService, batch_sim: Simulator
) -> None:
    rows = list((await _sample_rows(batch_service)).values())
    rows += map(triage_row, await _views(batch_service, [UNKNOWN_REQUEST_ID]))
    unreachable = submitted_ids(batch_sim, 5)
    batch_sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=502))
    rows += map(triage_row, await _views(batch_service, unreachable))
    batch_sim.set_fault(None)

    summary = summarize(rows)
    assert summary.total == len(SAMPLES) + 1 + 5
    assert list(summary.by_outcome) == list(OUTCOMES)
    expected: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for sample in SAMPLES.values():
        expected[_expected_outcome(sample)] += 1
    expected |= {"not_found": 1, "lookup_failed": 5}
    assert summary.by_outcome == expected
    assert sum(summary.by_status.values()) == summary.total

    grouped = {(g.outcome, g.exception_type, g.reason): g for g in summary.failures}
    (server_error,) = [g for g in summary.failures if g.outcome == "lookup_failed"]
    assert summary.failures[0] is server_error  # the largest group first
    assert server_error.exception_type == "server_error"
    assert server_error.count == 5
    assert server_error.example_ids == [r.request_id for r in rows[-5:]][:3]
    assert "HTTP 502" in server_error.reason
    assert ("error", "", "Unable to Connect to DB") in grouped
    assert ("unknown", "", "Processing of this queue is paused") in grouped
    assert not any(g.outcome in {"created", "duplicate", "in_queue"} for g in summary.failures)
    assert sum(g.count for g in summary.failures) == sum(
        expected[o] for o in ("failed", "error", "unknown", "lookup_failed")
    )
    assert all(len(g.example_ids) <= 3 for g in summary.failures)

    assert summary.resubmit == [r.request_id for r in rows if r.outcome == "failed"]
    assert set(summary.resubmit) == {
        s.request_id for s in SAMPLES.values() if s.expected_status == "FAILURE"
    }
    assert summary.look_again == [
        r.request_id for r in rows if r.outcome in {"in_queue", "error", "lookup_failed"}
    ]
    assert len(summary.look_again) == 2 + 1 + 5  # in queue, ERROR (retried upstream), failed


def test_failures_sharing_an_exception_and_reason_are_one_group() -> None:
    ids = [f"00000000-0000-4000-8000-{n:012x}" for n in range(5)]
    rows = [
        TriageRow(
            request_id=rid,
            status="FAILURE",
            outcome="failed",
            exception_type="MXDuplicateEntryException",
            reason="A Lead with same Phone Number already exists.",
        )
        for rid in ids
    ]
    rows.append(rows[0].model_copy(update={"request_id": "odd-one", "reason": "Other."}))
    summary = summarize(rows)
    assert [(g.count, g.example_ids) for g in summary.failures] == [
        (5, ids[:3]),
        (1, ["odd-one"]),
    ]


def test_an_empty_triage_summarizes_to_zeros() -> None:
    summary = summarize([])
    assert summary.total == 0
    assert summary.by_outcome == dict.fromkeys(OUTCOMES, 0)
    assert (summary.failures, summary.resubmit, summary.look_again) == ([], [], [])


def _formula_rows() -> list[TriageRow]:
    values = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "'quoted", "''", "'=1", "\tTab"]
    return [
        TriageRow(
            request_id=f"00000000-0000-4000-8000-{n:012x}",
            status=value,
            outcome="failed",
            exception_type=value,
            reason=value,
            opportunity_id=value,
            lead_id=value,
            account="default",
        )
        for n, value in enumerate(values)
    ]


async def test_rows_survive_a_round_trip_through_csv_and_jsonl(
    batch_service: CaptureService, batch_sim: Simulator
) -> None:
    rows = list((await _sample_rows(batch_service)).values())
    rows += map(triage_row, await _views(batch_service, [UNKNOWN_REQUEST_ID]))
    rows += _formula_rows()
    assert rows_from_file(triage_csv(rows), "csv") == rows
    assert rows_from_file(triage_jsonl(rows), "jsonl") == rows
    # a resumed run appends rows without a header: the file reads back whole
    appended = triage_csv(rows[:3]) + triage_csv(rows[3:], header=False)
    assert rows_from_file(appended, "csv") == rows


def test_formula_looking_values_are_quoted_in_csv_and_restored() -> None:
    rows = _formula_rows()
    text = triage_csv(rows)
    header, *cells = list(csv.reader(io.StringIO(text)))
    assert tuple(header) == TRIAGE_COLUMNS
    for line in cells:
        for cell in line:
            assert cell[:1] not in {"=", "+", "-", "@", "\t", "\r"}, cell
    assert cells[0][TRIAGE_COLUMNS.index("reason")] == '\'=HYPERLINK("http://x")'
    assert [row.reason for row in rows_from_file(text, "csv")] == [row.reason for row in rows]


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
async def test_a_file_cut_mid_row_loses_only_that_row(
    batch_service: CaptureService, kind: Literal["csv", "jsonl"]
) -> None:
    rows = [triage_row(view) for view in await _views(batch_service, list(SAMPLES_IDS))]
    rows += _formula_rows()
    text = triage_csv(rows) if kind == "csv" else triage_jsonl(rows)
    last_row_starts = text.rstrip("\n").rfind("\n") + 1
    # JSON Lines: a last object complete but for its line break is still read
    cut_ends = len(text) if kind == "csv" else len(text) - 1
    assert rows_from_file(text, kind) == rows
    for cut in range(last_row_starts, cut_ends):
        assert rows_from_file(text[:cut], kind) == rows[:-1], cut


def test_unreadable_lines_in_a_file_are_skipped() -> None:
    rows = _formula_rows()[:2]
    jsonl = triage_jsonl(rows).replace("\n", '\nnot json\n{"outcome": "nope"}\n', 1)
    assert rows_from_file(jsonl, "jsonl") == rows
    assert rows_from_file("", "csv") == []
    assert rows_from_file("", "jsonl") == []


def test_rows_come_back_in_the_order_their_ids_were_given() -> None:
    ids = ["B" * 8, "a" * 8, "c" * 8]
    rows = [
        TriageRow(request_id=rid, outcome="created") for rid in ("c" * 8, "b" * 8, "x", "a" * 8)
    ]
    ordered = in_input_order(rows, ids)
    assert [row.request_id for row in ordered] == ["b" * 8, "a" * 8, "c" * 8, "x"]
