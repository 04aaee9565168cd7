"""Triage: one row per looked-up id, and the summary an on-call engineer acts on.

A :class:`TriageRow` is the flat, masked record of one id (the columns of the CLI's table,
CSV and JSONL, and of the CSV file the Slack app uploads). :func:`summarize` counts rows by
status and outcome, groups failures by exception type and reason with example ids, and
lists the ids to resubmit. :func:`rows_from_file` reads rows back from a CSV or JSONL file
written earlier, so a re-run resumes instead of looking everything up again.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from shared.explain.mx_exceptions import find_exception
from shared.explain.untrusted import inert
from shared.families import OPPORTUNITY_CAPTURE
from shared.lsq.models import StatusKind
from shared.service.views import LookupView

__all__ = [
    "OUTCOMES",
    "TRIAGE_COLUMNS",
    "FailureGroup",
    "TriageRow",
    "TriageSummary",
    "in_input_order",
    "rows_from_file",
    "summarize",
    "triage_csv",
    "triage_jsonl",
    "triage_row",
]

Outcome = Literal[
    "created", "duplicate", "failed", "in_queue", "error", "unknown", "not_found", "lookup_failed"
]
#: every outcome, in the order summaries list them
OUTCOMES: tuple[Outcome, ...] = (
    "created",
    "duplicate",
    "failed",
    "in_queue",
    "error",
    "unknown",
    "not_found",
    "lookup_failed",
)
#: outcomes a re-run looks up again (they may still change)
UNSETTLED: frozenset[str] = frozenset({"in_queue", "error", "lookup_failed"})
#: the columns of every row format, in order
TRIAGE_COLUMNS = (
    "request_id",
    "status",
    "outcome",
    "exception_type",
    "reason",
    "opportunity_id",
    "lead_id",
    "account",
    "family",
)
#: longest reason kept in a row (reasons are one line)
_REASON_MAX = 300
#: longest status, exception type or id kept in a row (they are short unless LeadSquared errs)
_FIELD_MAX = 100
#: example ids shown per failure group
_EXAMPLES = 3


class TriageRow(BaseModel):
    """One looked-up id, flat and masked (as its view was).

    Every cell is one line of visible text, bounded (the reason to 300 characters, the
    others to 100), however the row was made: from a view or read back from a file someone
    may have edited. Renderers still escape cells for their medium.
    """

    model_config = ConfigDict(frozen=True)

    request_id: str
    status: str = ""
    outcome: Outcome
    exception_type: str = ""
    reason: str = ""
    opportunity_id: str = ""
    lead_id: str = ""
    account: str = ""
    family: str = OPPORTUNITY_CAPTURE

    @field_validator("*", mode="after")
    @classmethod
    def _one_line_of_visible_text(cls, value: str, info: ValidationInfo) -> str:
        return _one_line(value, _REASON_MAX if info.field_name == "reason" else _FIELD_MAX)

    @property
    def settled(self) -> bool:
        """Looking again cannot change this row (a re-run keeps it)."""
        return self.outcome not in UNSETTLED


def triage_row(view: LookupView) -> TriageRow:
    """The row of one view."""
    rid = view.request_id or view.query
    account = view.account or ""
    if view.error is not None or view.status is None:
        code = view.error.code if view.error is not None else "lookup_failed"
        message = view.error.message if view.error is not None else view.explanation.headline
        return TriageRow(
            request_id=rid,
            outcome="not_found" if code == "not_found" else "lookup_failed",
            exception_type=code,
            reason=message,
            account=account,
        )
    status = view.status
    task, outcome = status.task, status.outcome
    kind: Outcome
    match status.status:
        case StatusKind.IN_QUEUE:
            kind = "in_queue"
        case StatusKind.ERROR:
            kind = "error"
        case StatusKind.FAILURE:
            kind = "failed"
        case StatusKind.SUCCESS if outcome is not None and outcome.kind != "unknown":
            kind = outcome.kind
        case _:
            kind = "unknown"
    reason = task.status_reason or (outcome.exception_message if outcome else None) or ""
    exception = (
        find_exception(
            outcome.exception_type if outcome else None,
            outcome.exception_message if outcome else None,
            task.status_reason,
        )
        or (outcome.exception_type if outcome else None)
        or ""
    )
    opportunity = (
        (outcome.created_opportunity_id or outcome.conflicted_opportunity_id or "")
        if outcome
        else ""
    )
    return TriageRow(
        request_id=status.request_id,
        # one spelling per status, so that summaries count "success" and "Success" together
        status=task.status_raw if status.status is StatusKind.UNKNOWN else status.status.value,
        outcome=kind,
        exception_type=exception,
        reason=reason,
        opportunity_id=opportunity,
        lead_id=(outcome.related_prospect_id or "") if outcome else "",
        account=account,
    )


def _one_line(text: str, limit: int = _REASON_MAX) -> str:
    """``text`` on one line of visible characters, at most ``limit`` long (untrusted text)."""
    flat = " ".join(inert(text, line_breaks=False).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class FailureGroup(BaseModel):
    """Failures sharing an exception type and reason."""

    model_config = ConfigDict(frozen=True)

    outcome: str
    exception_type: str
    reason: str
    count: int
    example_ids: list[str]


class TriageSummary(BaseModel):
    """What a triage found, for people to act on.

    Attributes:
        total: rows summarised.
        by_status: rows per LeadSquared status (``""`` for lookups that got none).
        by_outcome: rows per outcome, every outcome listed (zeros included), in order.
        failures: failed, errored and unreadable requests and failed lookups, grouped by
            outcome, exception type and reason, largest group first.
        resubmit: the ids to resubmit after fixing the request (FAILURE is final:
            LeadSquared will not retry them; ERROR ones it retries itself).
        look_again: the ids whose answer may still change: in queue, ERROR (LeadSquared
            retries those itself) and failed lookups.
    """

    model_config = ConfigDict(frozen=True)

    total: int
    by_status: dict[str, int]
    by_outcome: dict[str, int]
    failures: list[FailureGroup]
    resubmit: list[str]
    look_again: list[str]


def in_input_order(rows: Iterable[TriageRow], ids: Sequence[str]) -> list[TriageRow]:
    """``rows`` in the order of ``ids`` (as given), rows of other ids last."""
    order = {rid.lower(): index for index, rid in enumerate(ids)}
    return sorted(rows, key=lambda row: order.get(row.request_id.lower(), len(order)))


def summarize(rows: Sequence[TriageRow]) -> TriageSummary:
    """Count, group and pick out what to do from ``rows``."""
    by_outcome = Counter(row.outcome for row in rows)
    by_status = Counter(row.status for row in rows)
    groups: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        if row.outcome in {"failed", "error", "unknown", "lookup_failed"}:
            key = (row.outcome, row.exception_type, row.reason)
            groups.setdefault(key, []).append(row.request_id)
    failures = [
        FailureGroup(
            outcome=outcome,
            exception_type=exception,
            reason=reason,
            count=len(ids),
            example_ids=ids[:_EXAMPLES],
        )
        for (outcome, exception, reason), ids in sorted(
            groups.items(), key=lambda item: (-len(item[1]), item[0])
        )
    ]
    return TriageSummary(
        total=len(rows),
        by_status=dict(by_status.most_common()),
        by_outcome={outcome: by_outcome.get(outcome, 0) for outcome in OUTCOMES},
        failures=failures,
        resubmit=[row.request_id for row in rows if row.outcome == "failed"],
        look_again=[row.request_id for row in rows if not row.settled],
    )


def triage_csv(rows: Iterable[TriageRow], *, header: bool = True) -> str:
    """``rows`` as CSV text with :data:`TRIAGE_COLUMNS` (a header line first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(TRIAGE_COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in TRIAGE_COLUMNS])
    return out.getvalue()


#: first characters that make a spreadsheet app run a cell as a formula
_FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})
#: the mark put before such a cell (and before a cell starting with the mark itself, so
#: that reading the file back restores every value exactly)
_TEXT_MARK = "'"


def _cell(value: str) -> str:
    # A cell starting like a formula runs as one in spreadsheet apps: quote it as text.
    marked = value[:1] in _FORMULA_STARTS or value[:1] == _TEXT_MARK
    return _TEXT_MARK + value if marked else value


def triage_jsonl(rows: Iterable[TriageRow]) -> str:
    """``rows`` as JSON Lines, one object per row with :data:`TRIAGE_COLUMNS`."""
    return "".join(row.model_dump_json() + "\n" for row in rows)


def rows_from_file(text: str, kind: Literal["csv", "jsonl"]) -> list[TriageRow]:
    """The rows of a CSV or JSONL file this module wrote; unreadable lines are skipped.

    A file cut short (a run stopped mid-write) loses only its last, partial row.
    """
    rows: list[TriageRow] = []
    if kind == "jsonl":
        for line in text.splitlines():
            try:
                rows.append(TriageRow.model_validate(json.loads(line)))
            except (ValueError, ValidationError):
                continue
        return rows
    if not text.endswith("\n"):  # every row written ends with one: the last was cut short
        text = text[: text.rfind("\n") + 1]
    for record in csv.DictReader(io.StringIO(text)):
        values = {k: _uncell(v or "") for k, v in record.items() if k in TRIAGE_COLUMNS}
        try:
            rows.append(TriageRow.model_validate(values))
        except ValidationError:
            continue
    return rows


def _uncell(value: str) -> str:
    marked = value[:1] == _TEXT_MARK and (value[1:2] in _FORMULA_STARTS or value[1:2] == _TEXT_MARK)
    return value[1:] if marked else value
