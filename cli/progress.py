"""Progress of a batch on standard error: done / total, rate, and the time left.

Shown only when standard error is an interactive terminal, so scripts, pipes and log files
never get progress lines mixed into what they read. The time left is reckoned at the
budget's pace until enough answers came to measure the real rate (see
:class:`~shared.BatchProgress`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from shared import BatchProgress, format_duration

__all__ = ["OnProgress", "progress_display", "progress_text"]

#: what a batch calls after each answer
OnProgress = Callable[[BatchProgress], None]


def progress_text(progress: BatchProgress) -> str:
    """One line for people: ``12 / 300 · 4.4 per second · about 1 min left``."""
    parts = [f"{progress.done:,} / {progress.total:,}"]
    if progress.done:
        parts.append(f"{progress.rate_per_second:.1f} per second")
    if progress.failed:
        parts.append(f"{progress.failed:,} failed")
    if progress.done < progress.total:
        parts.append(f"about {format_duration(progress.eta_seconds)} left")
    return " · ".join(parts)


@contextlib.contextmanager
def progress_display(
    err: Console, *, total: int, first_eta_seconds: float, cards_to_stdout: bool = False
) -> Generator[OnProgress]:
    """A bar on ``err`` while the block runs, when ``err`` is an interactive terminal.

    Args:
        err: the console of standard error.
        total: ids the batch looks up.
        first_eta_seconds: the time the whole batch takes at the budget's pace (shown
            before the first answer).
        cards_to_stdout: cards are printed on standard output meanwhile; when that is the
            same screen, they are printed above the bar instead of through it.

    Yields:
        The callback to pass as ``on_progress`` (it does nothing when no bar is shown).
    """
    if not err.is_interactive or total == 0:
        yield _ignore
        return
    bar = Progress(
        TextColumn("Looking up"),
        BarColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
        redirect_stdout=cards_to_stdout,
        redirect_stderr=False,
    )
    first = f"0 / {total:,} · about {format_duration(first_eta_seconds)} left"
    task = bar.add_task(first, total=total)

    def update(progress: BatchProgress) -> None:
        bar.update(task, completed=progress.done, description=progress_text(progress))

    with bar:
        yield update


def _ignore(progress: BatchProgress) -> None:
    del progress
