"""Every seeded sample of the simulator, looked up by the client, is explained correctly."""

from __future__ import annotations

import pytest

from shared.explain.engine import Severity, explain
from shared.lsq.models import StatusKind
from shared.simulator import SAMPLES, Sample
from tests.conftest import ClientFactory

EXPECTED_SEVERITY = {
    "Success": {Severity.OK, Severity.WARNING},  # a duplicate succeeds with a warning
    "FAILURE": {Severity.ERROR},
    "ERROR": {Severity.WARNING, Severity.ERROR},
    "In-Queue": {Severity.INFO},
}


@pytest.mark.parametrize("sample", list(SAMPLES.values()), ids=list(SAMPLES))
async def test_each_seeded_sample_explains_as_expected(
    make_client: ClientFactory, sample: Sample
) -> None:
    client = make_client()
    status = await client.get_status(sample.request_id)
    metrics = await client.get_metrics()
    explanation = explain(status, metrics)

    assert StatusKind.from_raw(sample.expected_status) is status.status
    assert explanation.status is status.status
    assert explanation.headline
    assert explanation.next_steps
    assert explanation.is_final is status.is_final
    kind = status.status.value
    if kind in EXPECTED_SEVERITY:
        assert explanation.severity in EXPECTED_SEVERITY[kind]
    if sample.expected_outcome is not None:
        assert explanation.outcome == sample.expected_outcome
    if sample.expected_outcome == "created":
        assert status.outcome is not None
        assert status.outcome.created_opportunity_id
        assert status.outcome.created_opportunity_id in explanation.headline
    if sample.expected_outcome == "duplicate":
        assert status.outcome is not None
        assert status.outcome.conflicted_opportunity_id
        assert status.outcome.conflicted_opportunity_id in explanation.headline
        assert "no new opportunity" in explanation.headline.lower()
    if sample.exception_type is not None:
        assert sample.exception_type in explanation.headline + explanation.why
    if status.status is StatusKind.ERROR:
        assert "likely" in (explanation.headline + explanation.why).lower()
    if status.status is StatusKind.IN_QUEUE:
        assert "queue" in explanation.why.lower()
    if status.status is StatusKind.UNKNOWN:
        assert status.task.status_raw in explanation.headline + explanation.what_happened
