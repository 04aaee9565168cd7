"""Control routes for cross-process use: free of key and window, never recorded."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from shared.simulator import SAMPLES, FaultKind, Simulator

from .conftest import METRICS_PATH, STATUS_PATH, FakeClock, in_process_client

CREATED_ID = SAMPLES["created"].request_id


async def test_healthz_answers_ok_without_a_key(app: Starlette, simulator: Simulator) -> None:
    async with in_process_client(app, api_key=None) as client:
        response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert simulator.calls == []


async def test_calls_lists_every_api_call_with_its_outcome(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.get(STATUS_PATH, params={"RequestID": CREATED_ID})
    clock.advance(0.5)
    await client.get("/nowhere")

    calls = (await client.get("/_sim/calls")).json()

    assert calls == [
        {
            "at": 10_000.0,
            "method": "GET",
            "path": STATUS_PATH,
            "status_code": 200,
            "request_id": CREATED_ID,
            "fault": None,
            "counted": True,
            "account": "default",
        },
        {
            "at": 10_000.5,
            "method": "GET",
            "path": "/nowhere",
            "status_code": 404,
            "request_id": None,
            "fault": None,
            "counted": False,
            "account": "default",
        },
    ]


async def test_deleting_calls_forgets_them_but_keeps_the_window(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    for _ in range(25):
        await client.get(METRICS_PATH)

    cleared = await client.delete("/_sim/calls")

    assert cleared.status_code == 200
    assert simulator.calls == []
    assert (await client.get(METRICS_PATH)).status_code == 429


async def test_posting_a_fault_sets_it_and_posting_null_clears_it(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    set_response = await client.post(
        "/_sim/fault", json={"kind": "server_error", "status_code": 502, "remaining": 1}
    )
    shown = (await client.get("/_sim/fault")).json()
    faulted = await client.get(STATUS_PATH, params={"RequestID": CREATED_ID})
    await client.post("/_sim/fault", json={"kind": "empty_body"})
    cleared = await client.post("/_sim/fault", json=None)

    assert set_response.status_code == 200
    assert shown["fault"]["kind"] == "server_error"
    assert shown["fault"]["remaining"] == 1
    assert faulted.status_code == 502
    assert cleared.json() == {"fault": None}
    assert simulator.fault is None


async def test_posting_an_invalid_fault_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    unknown_kind = await client.post("/_sim/fault", json={"kind": "meteor_strike"})
    bad_code = await client.post("/_sim/fault", json={"kind": "server_error", "status_code": 418})
    not_json = await client.post("/_sim/fault", content=b"{kind")

    assert [r.status_code for r in (unknown_kind, bad_code, not_json)] == [400, 400, 400]
    assert simulator.fault is None


async def test_reset_forgets_calls_faults_windows_and_submissions(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    request_id = simulator.submit(
        {"LeadDetails": [], "Opportunity": {"OpportunityEventCode": 1, "Fields": [1]}}
    )
    for _ in range(25):
        await client.get(METRICS_PATH)
    await client.post("/_sim/fault", json={"kind": "mx_throttle"})

    response = await client.post("/_sim/reset")

    assert response.status_code == 200
    assert simulator.calls == []
    assert simulator.fault is None
    assert simulator.status_envelope(request_id) is None
    assert (await client.get(METRICS_PATH)).status_code == 200


async def test_samples_lists_every_sample_with_its_id_and_description(
    client: httpx.AsyncClient,
) -> None:
    listed = (await client.get("/_sim/samples")).json()

    assert set(listed) == set(SAMPLES)
    for name, sample in SAMPLES.items():
        assert listed[name]["request_id"] == sample.request_id
        assert listed[name]["description"] == sample.description
        assert listed[name]["expected_status"] == sample.expected_status


async def test_control_routes_need_no_key_and_spend_no_budget(
    app: Starlette, simulator: Simulator
) -> None:
    async with in_process_client(app, api_key=None) as client:
        for _ in range(30):
            assert (await client.get("/_sim/samples")).status_code == 200
            assert (await client.get("/_sim/calls")).status_code == 200

    assert simulator.calls == []
    assert simulator.max_calls_in_any_window(5.0) == 0


async def test_faults_reported_by_the_calls_route_name_their_kind(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_sim/fault", json={"kind": "mx_throttle", "remaining": 1})
    await client.get(STATUS_PATH, params={"RequestID": CREATED_ID})

    calls = (await client.get("/_sim/calls")).json()

    assert calls[-1]["fault"] == FaultKind.MX_THROTTLE.value
    assert calls[-1]["status_code"] == 200
