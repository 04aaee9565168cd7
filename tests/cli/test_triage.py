"""``capture-status triage``: a summary to act on, then a row per id, resumable after Ctrl-C."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import signal
import uuid
from collections.abc import Callable, Generator
from pathlib import Path

import pytest
from rich.console import Console

from cli import triage as triage_command
from shared import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    TRIAGE_COLUMNS,
    BatchProgress,
    rows_from_file,
    summarize,
)
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Fault, FaultKind, sample_ids_for
from tests.cli.conftest import Cli

CREATED = SAMPLES["created"].request_id
DUPLICATE = SAMPLES["duplicate"].request_id
INVALID_FIELDS = SAMPLES["failure_invalid_activity_fields"].request_id
MANDATORY = SAMPLES["failure_mandatory_attribute_missing"].request_id
ERROR = SAMPLES["error"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id
#: one of each story, in the order the input file gives them
MIXED = [CREATED, INVALID_FIELDS, IN_QUEUE, DUPLICATE, MANDATORY, ERROR, UNKNOWN_REQUEST_ID]
EXPECTED_OUTCOMES = {
    CREATED: "created",
    INVALID_FIELDS: "failed",
    IN_QUEUE: "in_queue",
    DUPLICATE: "duplicate",
    MANDATORY: "failed",
    ERROR: "error",
    UNKNOWN_REQUEST_ID: "not_found",
}


def ids_file(folder: Path, ids: list[str], name: str = "ids.log") -> Path:
    """A log file mentioning ``ids`` in order, with noise around them."""
    lines = ["# exported from the integration's log"]
    lines += [
        f"2026-11-28T10:{n:02d}:00Z capture queued RequestID={rid}" for n, rid in enumerate(ids)
    ]
    lines.append(f"retrying {ids[0]}")  # a repeated mention
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_table_gives_the_summary_first_then_a_row_per_id_in_input_order(cli: Cli) -> None:
    ran = cli("triage", str(ids_file(cli.folder, MIXED)))
    assert ran.code == EXIT_OK, ran.err
    assert "Found 7 distinct RequestIds in 9 lines. Skipped 1 repeated mention, 1 line " in ran.err
    summary, _, table = ran.out.partition("request id")
    assert summary.startswith("Triage of 7 requests")
    assert (
        "created 1 · duplicate 1 · failed 2 · in queue 1 · error 1 · unknown 0 · not found 1 · "
        "lookup failed 0"
    ) in summary
    assert "MXInvalidActivityFieldsException" in summary
    assert "MXMandatoryAttributeMissingException" in summary
    resubmit = summary.split("Resubmit after fixing the request")[1].split("Look at again")[0]
    assert [line.strip() for line in resubmit.splitlines()[1:] if line.strip()] == [
        INVALID_FIELDS,
        MANDATORY,
    ]
    assert IN_QUEUE in summary.split("Look at again later")[1]
    positions = [table.index(rid) for rid in MIXED]
    assert positions == sorted(positions)


def test_csv_rows_go_to_stdout_and_the_summary_to_stderr(cli: Cli) -> None:
    ran = cli("triage", "--format", "csv", stdin="\n".join(MIXED).encode())
    assert ran.code == EXIT_OK, ran.err
    rows = csv_rows(ran.out)
    assert list(rows[0]) == list(TRIAGE_COLUMNS)
    assert [row["request_id"] for row in rows] == MIXED
    assert {row["request_id"]: row["outcome"] for row in rows} == EXPECTED_OUTCOMES
    assert {row["account"] for row in rows} == {"default"}
    created = rows[0]
    assert created["status"] == "Success"
    assert created["opportunity_id"]
    assert created["lead_id"]
    assert rows[1]["exception_type"] == "MXInvalidActivityFieldsException"
    assert "Triage of 7 requests" in ran.err
    assert "Triage" not in ran.out


def test_jsonl_rows_carry_the_same_columns_and_the_summary_counts_match_them(cli: Cli) -> None:
    ran = cli("triage", "-", "--format", "jsonl", stdin="\n".join(MIXED).encode())
    assert ran.code == EXIT_OK, ran.err
    records = [json.loads(line) for line in ran.out.splitlines()]
    assert [list(record) for record in records] == [list(TRIAGE_COLUMNS)] * len(MIXED)
    summary = summarize(rows_from_file(ran.out, "jsonl"))
    shown = ran.err.split("By outcome")[1].split("By status")[0]
    for outcome, count in summary.by_outcome.items():
        assert f"{outcome.replace('_', ' ')} {count}" in shown
    for status, count in summary.by_status.items():
        assert f"{status or '(no answer)'} {count}" in ran.err


def test_ids_of_several_accounts_are_each_answered_by_their_own(cli: Cli) -> None:
    theirs = sample_ids_for("us")["created"]
    stdin = f"{CREATED}\n{theirs}\n".encode()
    ran = cli("triage", "--format", "csv", stdin=stdin)
    assert ran.code == EXIT_OK, ran.err
    accounts = {row["request_id"]: (row["account"], row["outcome"]) for row in csv_rows(ran.out)}
    assert accounts == {CREATED: ("default", "created"), theirs: ("us", "created")}
    only = cli("triage", "--format", "csv", "--account", "default", stdin=stdin)
    outcomes = {row["request_id"]: row["outcome"] for row in csv_rows(only.out)}
    assert outcomes == {CREATED: "created", theirs: "not_found"}


@pytest.mark.parametrize(
    ("stdin", "says"),
    [
        (b"", "Found 0 distinct RequestIds in 0 lines."),
        (b"nothing to see\nhere either\n", "2 lines without a RequestId"),
        (b"\x00\x01\xff\xfe\x80" * 20, "bytes of binary data"),
    ],
    ids=["empty", "no id", "binary"],
)
def test_input_without_any_id_is_explained_with_exit_2(cli: Cli, stdin: bytes, says: str) -> None:
    ran = cli("triage", stdin=stdin)
    assert ran.code == EXIT_USAGE
    assert says in ran.err
    assert "A RequestId is a GUID" in ran.err
    assert ran.out == ""
    assert cli.looked_up() == []


def test_an_id_repeated_a_thousand_times_is_looked_up_once(cli: Cli) -> None:
    ran = cli("triage", "--format", "jsonl", stdin=f"{CREATED}\n".encode() * 1000)
    assert ran.code == EXIT_OK, ran.err
    assert "Found 1 distinct RequestId in 1000 lines. Skipped 999 repeated mentions." in ran.err
    assert len(ran.out.splitlines()) == 1
    assert cli.looked_up() == [CREATED]


def test_failed_lookups_are_grouped_with_their_reason_and_exit_1(cli: Cli) -> None:
    cli.sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503))
    ran = cli("triage", "--format", "csv", stdin="\n".join([CREATED, ERROR]).encode())
    assert ran.code == EXIT_FAILED
    assert {row["outcome"] for row in csv_rows(ran.out)} == {"lookup_failed"}
    assert "lookup failed 2" in ran.err
    group = ran.err.split("Failures, by exception type and reason")[1]
    assert "server_error" in group
    assert CREATED in group
    assert ERROR in group.split("Look at again later")[1]


def test_an_output_file_gets_the_rows_and_a_rerun_looks_up_only_unsettled_ids(cli: Cli) -> None:
    source = str(ids_file(cli.folder, MIXED))
    output = cli.folder / "rows.csv"
    first = cli("triage", source, "--output", str(output))
    assert first.code == EXIT_OK, first.err
    assert first.out.startswith("Triage of 7 requests")  # the summary, on stdout
    assert "7 rows (csv) are in" in first.err
    rows = rows_from_file(output.read_text(encoding="utf-8"), "csv")
    assert [row.request_id for row in rows] == MIXED
    assert set(cli.looked_up()) == set(MIXED)  # the unknown id on both accounts

    again = cli("triage", source, "--output", str(output))
    assert again.code == EXIT_OK, again.err
    assert "5 settled rows kept, 2 ids to look up" in again.err
    # in queue, and ERROR (LeadSquared retries it): their answers may have changed
    assert sorted(cli.looked_up()) == sorted([IN_QUEUE, ERROR])
    rows = rows_from_file(output.read_text(encoding="utf-8"), "csv")
    assert [row.request_id for row in rows] == MIXED
    assert "(2 looked up now, 5 kept from the earlier run)" in again.out.replace("\n", " ")


def test_failed_lookups_are_looked_up_again_when_resumed(cli: Cli) -> None:
    output = cli.folder / "rows.jsonl"
    stdin = "\n".join([CREATED, DUPLICATE]).encode()
    cli.sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=500))
    assert cli("triage", "--output", str(output), stdin=stdin).code == EXIT_FAILED
    cli.sim.set_fault(None)
    cli.looked_up()
    ran = cli("triage", "--output", str(output), stdin=stdin)
    assert ran.code == EXIT_OK, ran.err
    assert "0 settled rows kept, 2 ids to look up (2 of them were in queue or failed" in ran.err
    assert sorted(cli.looked_up()) == sorted([CREATED, DUPLICATE])
    rows = rows_from_file(output.read_text(encoding="utf-8"), "jsonl")
    assert [row.outcome for row in rows] == ["created", "duplicate"]


def test_a_formula_in_a_reason_is_quoted_in_csv_and_survives_a_resume(cli: Cli) -> None:
    rid = str(uuid.uuid4())
    task = dict(SAMPLES["failure_invalid_input"].envelope["TaskStatus"])
    task["StatusReason"] = '=HYPERLINK("http://evil.example","click")'
    cli.sim.put_answer(rid, task)
    output = cli.folder / "rows.csv"
    assert cli("triage", "--output", str(output), stdin=rid.encode()).code == EXIT_OK
    written = output.read_text(encoding="utf-8")
    [record] = csv_rows(written)
    assert record["reason"].startswith("'=HYPERLINK(")
    cli.looked_up()
    assert cli("triage", "--output", str(output), stdin=rid.encode()).code == EXIT_OK
    assert cli.looked_up() == []  # a FAILURE is settled: kept, not looked up again
    assert output.read_text(encoding="utf-8") == written  # quoted once, not twice
    [row] = rows_from_file(written, "csv")
    assert row.reason == task["StatusReason"]


def test_untrusted_text_in_a_reason_reaches_no_output_raw(cli: Cli) -> None:
    rid = str(uuid.uuid4())
    task = dict(SAMPLES["failure_invalid_input"].envelope["TaskStatus"])
    task["StatusReason"] = "bad\x1b]0;owned\x07 \x1b[31mRED\u202eTXT\x9b2J\r\nFAKE row"
    cli.sim.put_answer(rid, task)
    for kind in ("table", "csv", "jsonl"):
        ran = cli("triage", "--format", kind, stdin=rid.encode())
        assert "[31mRED" in ran.out + ran.err, kind
        for char in "\x1b\x07\x9b\u202e\r":
            assert char not in ran.out + ran.err, (kind, f"U+{ord(char):04X}")
        if kind == "csv":
            assert len(csv_rows(ran.out)) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--format", "table", "--output", "rows.txt"], "pass --format csv or --format jsonl"),
        (["--output", "rows.txt"], "end it with .csv or .jsonl"),
        (["missing-file.log"], "Cannot read missing-file.log: No such file or directory."),
    ],
    ids=["table to a file", "unknown file kind", "missing input"],
)
def test_usage_problems_are_explained_with_exit_2(cli: Cli, args: list[str], says: str) -> None:
    ran = cli("triage", *args, stdin=CREATED.encode())
    assert ran.code == EXIT_USAGE
    assert says in ran.err.replace("\n", " ")
    assert cli.looked_up() == []


def interrupt_after(answers: int, stop: Callable[[], None]) -> object:
    """A progress display whose hook stops the run (as Ctrl-C does) after ``answers``."""

    @contextlib.contextmanager
    def display(err: Console, **_: object) -> Generator[Callable[[BatchProgress], None]]:
        del err

        def hook(progress: BatchProgress) -> None:
            if progress.done == answers:
                stop()

        yield hook

    return display


def _raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "stop",
    [_raise_keyboard_interrupt, lambda: signal.raise_signal(signal.SIGINT)],
    ids=["KeyboardInterrupt", "SIGINT"],
)
def test_ctrl_c_stops_cleanly_and_leaves_a_file_the_rerun_resumes(
    cli: Cli, stop: Callable[[], None]
) -> None:
    ids = [sample.request_id for sample in SAMPLES.values() if "in_queue" not in sample.name][:8]
    # A budget of 3 calls a second: Ctrl-C comes while most lookups are still to be made.
    cli.monkeypatch.setenv("LSQ_RATE_LIMIT_CALLS", "5")
    cli.monkeypatch.setenv("LSQ_RATE_HEADROOM_CALLS", "2")
    cli.monkeypatch.setenv("LSQ_RATE_WINDOW_GUARD_SECONDS", "0")
    source = str(ids_file(cli.folder, ids))
    output = cli.folder / "rows.csv"
    with cli.monkeypatch.context() as patch:
        patch.setattr(triage_command, "progress_display", interrupt_after(3, stop))
        ran = cli("triage", source, "--output", str(output), "--format", "csv")
    assert ran.code == EXIT_INTERRUPTED
    assert "Stopped after" in ran.err
    assert "run the same command again to resume" in ran.err
    assert ran.out.startswith("Triage of")  # what was done, summarised
    written = output.read_text(encoding="utf-8")
    assert written.startswith(",".join(TRIAGE_COLUMNS))
    kept = rows_from_file(written, "csv")
    assert 1 < len(kept) < len(ids)
    done = {row.request_id for row in kept}
    assert [row.request_id for row in kept] == [rid for rid in ids if rid in done]

    cli.looked_up()
    resumed = cli("triage", source, "--output", str(output))
    assert resumed.code == EXIT_OK, resumed.err
    assert f"{len(kept)} settled rows kept" in resumed.err
    assert sorted(cli.looked_up()) == sorted(set(ids) - done)
    rows = rows_from_file(output.read_text(encoding="utf-8"), "csv")
    assert [row.request_id for row in rows] == ids


def test_an_output_file_that_is_not_rows_is_never_overwritten(cli: Cli) -> None:
    notes = cli.folder / "notes.csv"
    notes.write_text("my incident notes, not rows\n", encoding="utf-8")
    ran = cli("triage", "--output", str(notes), stdin=CREATED.encode())
    assert ran.code == EXIT_USAGE
    assert "holds no triage rows (csv): it is not overwritten" in ran.err
    assert notes.read_text(encoding="utf-8") == "my incident notes, not rows\n"
    assert cli.looked_up() == []


def test_the_input_file_is_never_the_output(cli: Cli) -> None:
    source = ids_file(cli.folder, [CREATED])
    ran = cli("triage", str(source), "--output", str(source), "--format", "csv")
    assert ran.code == EXIT_USAGE
    assert "--output names the input file itself" in ran.err
    assert CREATED in source.read_text(encoding="utf-8")
