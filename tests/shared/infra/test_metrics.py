"""Prometheus metrics read the client's own counters at scrape time."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import RequestNotFoundError
from shared.infra.metrics import metrics_app, metrics_registry
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Fault, FaultKind, Simulator
from tests.conftest import ClientFactory


def _value(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in metrics:\n{text}")


async def test_lookups_upstream_calls_retries_cache_and_breaker_are_exposed(
    make_client: ClientFactory, sim: Simulator
) -> None:
    client = make_client(retry_attempts=2)
    sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=1))
    created = SAMPLES["created"].request_id
    await client.get_status(created)
    await client.get_status(created)
    with pytest.raises(RequestNotFoundError):
        await client.get_status(UNKNOWN_REQUEST_ID)

    app = metrics_app({"default": client})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as http:
        response = await http.get("/")
    text = response.text
    assert response.status_code == 200
    assert _value(text, 'capture_status_lookups_total{account="default",outcome="found"}') == 1
    assert _value(text, 'capture_status_lookups_total{account="default",outcome="cached"}') == 1
    assert _value(text, 'capture_status_lookups_total{account="default",outcome="not_found"}') == 1
    server_errors = 'capture_status_upstream_calls_total{account="default",result="server_error"}'
    assert _value(text, server_errors) == 1
    assert _value(text, 'capture_status_upstream_calls_total{account="default",result="ok"}') == 1
    assert _value(text, 'capture_status_retries_total{account="default"}') == 1
    assert _value(text, 'capture_status_cache_total{account="default",result="hit"}') == 1
    assert _value(text, 'capture_status_breaker_state{account="default",state="closed"}') == 1
    assert _value(text, 'capture_status_shared_budget{account="default"}') == 0
    # three calls went out (the 503, its retry, the unknown id), all for an unnamed caller
    granted = 'capture_status_budget_granted_total{account="default",lane="interactive"}'
    assert _value(text, granted) == 3
    assert _value(text, 'capture_status_budget_granted_total{account="default",lane="bulk"}') == 0
    assert _value(text, 'capture_status_budget_queued{account="default"}') == 0


def test_each_client_gets_its_own_registry(make_client: ClientFactory) -> None:
    first, second = make_client(), make_client()
    assert metrics_registry({"a": first}) is not metrics_registry({"a": second})
