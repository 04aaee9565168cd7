"""A triage for people on a terminal: the summary first, then one row per id.

Every cell comes from a :class:`~shared.TriageRow`, which holds one line of visible text per
cell (no control, bidi or invisible characters), and is inserted as :class:`rich.text.Text`,
never as markup, as the cards of :mod:`cli.terminal` are.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shared import TRIAGE_COLUMNS, TriageRow, TriageSummary, inert

__all__ = ["outcome_label", "rows_table", "summary_view"]

#: how outcomes read in the summary (the rows keep the names of TRIAGE_COLUMNS' data)
_OUTCOME_LABELS = {
    "in_queue": "in queue",
    "not_found": "not found",
    "lookup_failed": "lookup failed",
}
_OUTCOME_STYLES = {
    "created": "green",
    "duplicate": "green",
    "failed": "red",
    "error": "yellow",
    "in_queue": "cyan",
    "unknown": "yellow",
    "not_found": "yellow",
    "lookup_failed": "red",
}


def outcome_label(outcome: str) -> str:
    """An outcome as people read it (``lookup_failed`` → ``lookup failed``)."""
    return _OUTCOME_LABELS.get(outcome, outcome)


def summary_view(summary: TriageSummary, *, looked_up: int, resumed: int) -> RenderableType:
    """The summary: counts, failure groups, the ids to resubmit and to look at again."""
    total = f"{summary.total:,} request{'s' if summary.total != 1 else ''}"
    head = Text.assemble(("Triage of ", "bold"), (total, "bold"))
    if resumed:
        head.append(f" ({looked_up:,} looked up now, {resumed:,} kept from the earlier run)")
    counts = Table.grid(padding=(0, 2))
    counts.add_column(style="dim", no_wrap=True)
    counts.add_column()
    counts.add_row("By outcome", _counts(summary.by_outcome, outcomes=True))
    by_status = {(status or "(no answer)"): count for status, count in summary.by_status.items()}
    counts.add_row("By status", _counts(by_status, outcomes=False))
    parts: list[RenderableType] = [head, counts]
    if summary.failures:
        parts.append(Text("Failures, by exception type and reason", style="bold"))
        parts.append(_failures_table(summary))
    parts.append(
        _id_list(
            "Resubmit after fixing the request (FAILURE is final: LeadSquared will not retry)",
            summary.resubmit,
        )
    )
    parts.append(
        _id_list("Look at again later (in queue, ERROR, or the lookup failed)", summary.look_again)
    )
    return Group(*parts)


def _counts(counts: dict[str, int], *, outcomes: bool) -> Text:
    text = Text()
    for name, count in counts.items():
        if text:
            text.append(" · ", style="dim")
        label = outcome_label(name) if outcomes else inert(name, line_breaks=False)
        style = "dim" if not count else _OUTCOME_STYLES.get(name, "") if outcomes else ""
        text.append(f"{label} {count:,}", style=style)
    return text


def _failures_table(summary: TriageSummary) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("exception type", overflow="fold")
    table.add_column("reason", overflow="fold", ratio=2)
    table.add_column("example ids", overflow="fold")
    for group in summary.failures:
        table.add_row(
            Text(f"{group.count:,}"),
            Text(outcome_label(group.outcome), style=_OUTCOME_STYLES.get(group.outcome, "")),
            Text(inert(group.exception_type, line_breaks=False)),
            Text(inert(group.reason, line_breaks=False)),
            Text("\n".join(inert(rid, line_breaks=False) for rid in group.example_ids)),
        )
    return table


def _id_list(title: str, ids: Sequence[str]) -> Text:
    text = Text.assemble((f"{title}: ", "bold"), f"{len(ids):,}")
    for rid in ids:
        text.append("\n  ")
        text.append(inert(rid, line_breaks=False))
    return text


#: columns never wrapped in the table (an id to copy, and short words)
_WHOLE = frozenset({"request_id", "status", "outcome", "account"})
#: columns shown above the table instead when every row holds the same value in them
_SHARED = ("account", "family")


def rows_table(rows: Sequence[TriageRow]) -> RenderableType:
    """One row per id with every column of :data:`~shared.TRIAGE_COLUMNS`.

    A column whose value is the same in every row (one account, one API family) is said
    once above the table instead, to leave the width to the others.
    """
    shared = {
        column: values.pop()
        for column in _SHARED
        if rows and len(values := {getattr(row, column) for row in rows}) == 1
    }
    columns = [column for column in TRIAGE_COLUMNS if column not in shared]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        # the request id and short words stay whole; longer text wraps within its column
        table.add_column(column.replace("_", " "), no_wrap=column in _WHOLE, overflow="fold")
    for row in rows:
        cells = [Text(inert(getattr(row, column), line_breaks=False)) for column in columns]
        cells[columns.index("outcome")].stylize(_OUTCOME_STYLES.get(row.outcome, ""))
        table.add_row(*cells)
    if not shared:
        return table
    said = Text("Every row: ", style="dim")
    said.append(
        ", ".join(f"{column} {inert(value, line_breaks=False)}" for column, value in shared.items())
    )
    return Group(said, table)
