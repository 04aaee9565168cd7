"""The Slack acknowledgement benchmark still runs end to end (a small, quick run)."""

from __future__ import annotations

from bench.slack_ack import measure, report


async def test_a_small_run_acks_and_answers_every_command() -> None:
    result = await measure(count=10, rate=50.0, upstream_seconds=0.5)
    assert result.errors == 0
    assert len(result.ack_ms) == 10
    assert result.answered == 10
    assert result.bot_exit_code == 0
    assert result.answer_seconds_p50 >= 0.5  # each answer waited for its held lookup
    text = report(result)
    assert "p99" in text
    assert "answers delivered 10/10" in text
