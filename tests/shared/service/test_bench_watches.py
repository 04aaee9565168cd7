"""The watch benchmarks still run end to end (small runs).

Only what the code decides is asserted, never a latency: every watched request is told once,
the simulator sees no 429, the replay and the real watcher agree, a replica killed with
SIGKILL costs no notice.
"""

from __future__ import annotations

from pathlib import Path

from bench import watch_load, watch_replicas, watches
from shared.simulator import QueueModel
from tests.databases import test_database_url as fresh_database_url


async def test_a_small_watches_run_tells_every_request_once() -> None:
    run = await watches.measure(
        QueueModel(rate_per_minute=60, seed=1),
        "small",
        watched=20,
        arrival_seconds=10,
        tail_seconds=120,
    )

    assert len(run.watched_at) + run.final_at_once == 20
    assert set(run.delivered) == set(run.watched_at)
    assert run.duplicates == 0
    assert run.throttled == 0
    assert run.person  # the person looked ids up meanwhile
    rows = {figure.name: figure for figure in watches.figures(run)}
    assert rows["small: duplicate notices"].passed is True
    assert rows["small: HTTP 429 answers (most calls in any 5-s window)"].passed is True


async def test_the_replay_and_the_real_watcher_agree_on_a_small_slice(tmp_path: Path) -> None:
    result = watch_load.replay(hours=1, slice_seconds=60)
    [calls] = result.watch_calls
    [interactive] = result.interactive_calls
    assert calls + interactive <= watch_load.BUDGET_PER_HOUR

    run = await watch_load.real_run(f"sqlite:///{tmp_path / 'w.db'}", "SQLite", result)

    assert run.rows["active"] >= 9_900
    assert run.claim_seconds
    assert abs(run.watch_calls - result.slice_calls) <= max(5, result.slice_calls // 5)
    assert run.size_bytes > 0


async def test_a_small_replicas_run_loses_nothing_and_tells_once(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    async with fresh_database_url("postgresql", postgres_admin_url, tmp_path) as url:
        run = await watch_replicas.measure(url, watches=15, arrival_seconds=20, kill_every=15)

    assert len(run.watched) == 15
    assert run.lost == []
    assert run.duplicates == 0
    assert run.kills >= 1
    assert run.store_states == {"final": 15}
