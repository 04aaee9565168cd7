"""Progress of a batch on standard error: done / total, the rate and the time left."""

from __future__ import annotations

from cli.progress import progress_text
from shared import EXIT_OK, BatchProgress
from tests.cli.conftest import Cli
from tests.cli.test_get_many import TWELVE


def test_progress_reads_done_of_total_rate_and_time_left() -> None:
    # before 10 answers the time left is reckoned at the budget's pace (here 4 per second)
    early = BatchProgress(done=4, total=300, failed=1, elapsed_seconds=2.0, pace_per_second=4.0)
    assert progress_text(early) == "4 / 300 · 2.0 per second · 1 failed · about 1 min left"
    # then at the measured rate
    later = BatchProgress(done=150, total=300, failed=0, elapsed_seconds=30, pace_per_second=4)
    assert progress_text(later) == "150 / 300 · 5.0 per second · about 30 s left"
    done = BatchProgress(done=300, total=300, failed=0, elapsed_seconds=60, pace_per_second=4)
    assert progress_text(done) == "300 / 300 · 5.0 per second"


def test_an_interactive_terminal_sees_the_progress_and_the_cards_still_go_to_stdout(
    cli: Cli,
) -> None:
    ran = cli("get", *TWELVE, stderr_terminal=True)
    assert ran.code == EXIT_OK
    assert "12 / 12" in ran.err
    assert "Looking up" in ran.err
    for rid in TWELVE:
        assert rid in ran.out
        assert rid not in ran.err
