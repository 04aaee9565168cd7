"""``capture-status triage``: every RequestId of a file or of standard input, summarised.

The ids are found with :func:`~shared.read_batch` (what was skipped is said on standard
error) and looked up at the bulk lane's pace (people's lookups go first), on the chosen
account or, without ``--account``, on every configured account in turn. The output is the
summary first, then one row per id in input order: a table for people, or CSV / JSON Lines
for programs (the summary then goes to standard error, so standard output stays readable
by them). With ``--output`` the rows go to a file as they come, and a re-run with the same
file keeps its settled rows and looks up only the others. Ctrl-C stops cleanly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console, RenderableType

from cli.principal import PRINCIPAL
from cli.progress import progress_display
from cli.queries import STDIN
from cli.triage_file import NotARowsFileError, RowFile, kind_of_path, row_text
from cli.triage_render import rows_table, summary_view
from shared import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Caller,
    CaptureService,
    TriageRow,
    format_duration,
    inert,
    read_batch,
    summarize,
    triage_row,
)

__all__ = ["FORMATS", "TriagePlan", "plan_triage", "read_source", "run_triage"]

Format = Literal["table", "csv", "jsonl"]
#: the output formats, the default first
FORMATS: tuple[Format, ...] = ("table", "csv", "jsonl")
_BY_NAME: dict[str, Format] = {name: name for name in FORMATS}


@dataclass(frozen=True, slots=True)
class TriagePlan:
    """What one triage reads and writes.

    Attributes:
        source: a file path, or ``-`` for standard input.
        kind: how rows are written.
        output: the rows file (CSV or JSON Lines), when rows go to a file.
        account: the only account to ask, when named.
    """

    source: str
    kind: Format
    output: Path | None
    account: str | None


def plan_triage(
    source: str, format_name: str | None, output: str | None, account: str | None
) -> TriagePlan | str:
    """The plan for these arguments, or the usage problem that stops it (for people)."""
    path = Path(output) if output is not None else None
    kind: Format
    if format_name is not None:
        kind = _BY_NAME[format_name]
    elif path is not None:
        inferred = kind_of_path(path)
        if inferred is None:
            return (
                f"Cannot tell the row format of {path.name!r} from its name: end it with "
                ".csv or .jsonl, or pass --format csv or --format jsonl."
            )
        kind = inferred
    else:
        kind = "table"
    if path is not None and source != STDIN and _same_file(Path(source), path):
        return (
            "--output names the input file itself: the rows would replace the ids. Write "
            "the rows to another file."
        )
    if kind == "table" and path is not None:
        return (
            "--output writes rows a re-run can resume from, as CSV or JSON Lines: pass "
            "--format csv or --format jsonl (or name the file .csv or .jsonl). Without "
            "--output the table is printed here."
        )
    return TriagePlan(source=source, kind=kind, output=path, account=account)


async def run_triage(
    service: CaptureService,
    plan: TriagePlan,
    *,
    out: Console,
    err: Console,
    data: bytes,
) -> int:
    """Triage every id of ``data`` (what was read from ``plan.source``); the exit status.

    Raises:
        UnknownAccountError: ``plan.account`` names no configured account.
    """
    batch = read_batch(data)
    err.print(batch.describe(), markup=False)
    if not batch.ids:
        return EXIT_USAGE
    account, *also_try = service.accounts_to_try(plan.account)
    rows: dict[str, TriageRow] = {}
    rows_file = None
    if plan.output is not None:
        assert plan.kind != "table"
        rows_file = RowFile(plan.output, plan.kind)
        try:
            rows = _resumed(rows_file, batch.ids, err)
        except NotARowsFileError as error:
            err.print(_shown(str(error)), markup=False)
            return EXIT_USAGE
        except OSError as error:
            err.print(f"Cannot read {_shown(str(plan.output))}: {error}.", markup=False)
            return EXIT_USAGE
    todo = [rid for rid in batch.ids if rid not in rows]
    least = service.batch_seconds(len(todo), account=account)
    if todo:
        pace = f"at least {format_duration(least)} at the budget's pace, " if least >= 1 else ""
        err.print(
            f"Looking up {len(todo):,} id{'s' if len(todo) != 1 else ''} ({pace}people's "
            "lookups go first).",
            markup=False,
        )

    def in_order() -> list[TriageRow]:
        return [rows[rid] for rid in batch.ids if rid in rows]

    if rows_file is not None:
        try:
            rows_file.start(in_order())
        except OSError as error:
            err.print(f"Cannot write {_shown(str(plan.output))}: {error}.", markup=False)
            return EXIT_USAGE
    looked_up = 0
    interrupted = False
    try:
        with progress_display(err, total=len(todo), first_eta_seconds=least) as on_progress:
            async for view in service.look_up_many(
                todo,
                caller=Caller.bulk(PRINCIPAL),
                account=account,
                also_try=also_try,
                on_progress=on_progress,
            ):
                row = triage_row(view)
                rows[view.query] = row
                looked_up += 1
                if rows_file is not None:
                    rows_file.append(row)
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True  # Ctrl-C: report what was done, keep the file resumable
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()  # handled here: later timeouts in this task must work as usual
    finally:
        if rows_file is not None:
            rows_file.finish(in_order())
    ordered = in_order()
    summary = summarize(ordered)
    shown = summary_view(summary, looked_up=looked_up, resumed=len(ordered) - looked_up)
    _print(plan, shown, ordered, out=out, err=err)
    if interrupted:
        err.print(_stopped(plan, looked_up, len(todo)), markup=False)
        return EXIT_INTERRUPTED
    return EXIT_FAILED if summary.by_outcome.get("lookup_failed") else EXIT_OK


def _print(
    plan: TriagePlan,
    summary: RenderableType,
    rows: list[TriageRow],
    *,
    out: Console,
    err: Console,
) -> None:
    """The summary, then the rows: where each goes depends on the format and ``--output``."""
    if plan.output is not None:  # the rows are in the file
        out.print(summary)
        err.print(
            f"{len(rows):,} rows ({plan.kind}) are in {_shown(str(plan.output))}.", markup=False
        )
    elif plan.kind == "table":
        out.print(summary)
        out.print(rows_table(rows))
    else:  # standard output stays readable by programs: rows only
        err.print(summary)
        out.file.write(row_text(rows, plan.kind))
        out.file.flush()


def read_source(source: str, read_stdin: Callable[[], bytes]) -> bytes | str:
    """The bytes of ``source`` (standard input for ``-``), or why they cannot be read."""
    if source == STDIN:
        return read_stdin()
    try:
        return Path(source).read_bytes()
    except OSError as error:
        return f"Cannot read {_shown(source)}: {error.strerror or error}."


def _resumed(rows_file: RowFile, ids: list[str], err: Console) -> dict[str, TriageRow]:
    """The settled rows of an earlier run that this input asks for again, by id."""
    earlier = rows_file.earlier_rows()
    if not earlier and not rows_file.path.exists():
        return {}
    wanted = set(ids)
    kept: dict[str, TriageRow] = {}
    again = elsewhere = 0
    for row in earlier:
        rid = row.request_id.lower()
        if rid not in wanted:
            elsewhere += 1
        elif row.settled:
            kept[rid] = row
        else:
            again += 1
    left = len(ids) - len(kept)
    message = (
        f"Resuming from {_shown(str(rows_file.path))}: {len(kept):,} settled "
        f"row{'s' if len(kept) != 1 else ''} kept, {left:,} id{'s' if left != 1 else ''} to "
        "look up"
    )
    if again:
        message += f" ({again:,} of them were in queue or failed to look up before)"
    message += "."
    if elsewhere:
        message += (
            f" {elsewhere:,} row{'s' if elsewhere != 1 else ''} for ids not in this input "
            "will be left out of the file."
        )
    err.print(message, markup=False)
    return kept


def _stopped(plan: TriagePlan, looked_up: int, todo: int) -> str:
    said = f"Stopped after {looked_up:,} of {todo:,} lookups."
    if plan.output is not None:
        return (
            f"{said} The rows so far are in {_shown(str(plan.output))}; run the same command "
            "again to resume (settled rows are kept, only the others are looked up)."
        )
    return (
        f"{said} Nothing was saved to resume from: add --output FILE.csv (or .jsonl) to keep "
        "the rows as they come and resume after a stop."
    )


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve()
    except OSError:
        return False


def _shown(text: str) -> str:
    return inert(text, line_breaks=False)
