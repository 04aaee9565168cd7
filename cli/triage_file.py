"""The rows file of ``capture-status triage --output``: written as rows come, resumable.

The file is always valid CSV or JSON Lines: it starts as the rows kept from an earlier run
(replaced in one step), each new row is appended and flushed as its answer comes, so Ctrl-C
or a crash loses at most the row being written, and at the end it is replaced, in one step
again, by every row in input order. A re-run reads it back with
:func:`~shared.rows_from_file` and looks up only the ids whose rows may still change.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Literal

from shared import TRIAGE_COLUMNS, TriageRow, rows_from_file, triage_csv, triage_jsonl

__all__ = ["NotARowsFileError", "RowFile", "RowKind", "kind_of_path", "row_text"]

RowKind = Literal["csv", "jsonl"]

#: file name endings that tell the row format, when ``--format`` does not
_KINDS: dict[str, RowKind] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def kind_of_path(path: Path) -> RowKind | None:
    """The row format a file name ends with (``.csv``, ``.jsonl``, ``.ndjson``), if any."""
    return _KINDS.get(path.suffix.lower())


def row_text(rows: Iterable[TriageRow], kind: RowKind, *, header: bool = True) -> str:
    """``rows`` as CSV (with a header line unless ``header`` is false) or JSON Lines."""
    if kind == "csv":
        return triage_csv(rows, header=header)
    return triage_jsonl(rows)


class NotARowsFileError(Exception):
    """The output file exists and holds something else than rows of this format."""

    def __init__(self, path: Path, kind: RowKind) -> None:
        super().__init__(
            f"{path} exists and holds no triage rows ({kind}): it is not overwritten. Choose "
            "another --output file, or remove this one first."
        )


class RowFile:
    """The rows file of one triage run.

    Args:
        path: where the rows go.
        kind: ``csv`` or ``jsonl``.
    """

    def __init__(self, path: Path, kind: RowKind) -> None:
        self.path = path
        self.kind: RowKind = kind
        self._appending: IO[str] | None = None

    def earlier_rows(self) -> list[TriageRow]:
        """The rows an earlier run left in the file (none when there is no file).

        Raises:
            OSError: the file exists but cannot be read.
        """
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8", errors="replace")
        rows = rows_from_file(text, self.kind)
        if not rows and text.strip() and not text.startswith(TRIAGE_COLUMNS[0]):
            raise NotARowsFileError(self.path, self.kind)
        return rows

    def start(self, rows: Sequence[TriageRow]) -> None:
        """Replace the file by ``rows`` in one step, then append further rows to it.

        Raises:
            OSError: the file cannot be written.
        """
        self._replace(rows)
        self._appending = self.path.open("a", encoding="utf-8", newline="")

    def append(self, row: TriageRow) -> None:
        """Add ``row`` at the end, on disk at once."""
        if self._appending is not None:
            self._appending.write(row_text([row], self.kind, header=False))
            self._appending.flush()

    def finish(self, rows: Sequence[TriageRow]) -> None:
        """Stop appending and replace the file by ``rows`` (in input order) in one step."""
        if self._appending is not None:
            self._appending.close()
            self._appending = None
        self._replace(rows)

    def _replace(self, rows: Sequence[TriageRow]) -> None:
        # A sibling file renamed over the target: readers see the old file or the new one.
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("w", encoding="utf-8", newline="") as file:
                file.write(row_text(rows, self.kind))
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
