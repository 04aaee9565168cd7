"""The account independence benchmark still runs end to end (a small run, window scaled down).

Only what the budgets decide is asserted, never a latency: A's burst is over A's budget, so
A waits, while B, paced under its own budget, never does; the simulator sees no 429.
"""

from __future__ import annotations

from bench.account_independence import ACCOUNT_A, ACCOUNT_B, figures, measure


async def test_a_small_run_keeps_the_accounts_budgets_apart() -> None:
    # a 1-s window of 10 (budget 8): a burst of 24 takes three of A's windows; B makes at most
    # 6 calls in any window (its warm-up and one lookup every 0.25 s)
    m = await measure(burst=24, b_lookups=5, pace_seconds=0.25, limit_calls=10, window_seconds=1)
    assert m.budget_calls == 8
    assert (m.b_found_alone, m.b_found_loaded) == (5, 5)
    assert m.b_during_burst >= 1  # B's first lookup starts with the burst, which lasts 2+ s
    assert m.burst_finished
    assert m.burst_answered == 24
    assert m.burst_failures == {}
    assert m.a_waits > 0
    assert m.b_waits == 0
    assert m.b_cooldowns == 0
    assert m.throttled == {ACCOUNT_A: 0, ACCOUNT_B: 0}
    assert m.busiest[ACCOUNT_A] == 8  # A used its whole budget, and no more
    assert m.busiest[ACCOUNT_B] <= 8
    rows = {figure.name: figure for figure in figures(m)}
    assert rows["budget waits: B / A"].passed is True
    assert rows["HTTP 429 seen by the simulator: A / B"].passed is True
    assert rows["A's burst answered"].value.startswith("24/24 in ")
