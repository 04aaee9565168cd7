"""The status routes: envelopes, parameter casing, 400/401/404 answers."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette

from shared.lsq.models import StatusKind, parse_status
from shared.simulator import (
    GATEWAY_NOT_FOUND_BODY,
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Simulator,
    SimulatorConfig,
    create_app,
)

from .conftest import (
    API_KEY,
    FALLBACK_STATUS_PATH,
    METRICS_PATH,
    STATUS_PATH,
    FakeClock,
    in_process_client,
)

CREATED = SAMPLES["created"]


@pytest.mark.parametrize("path", [STATUS_PATH, FALLBACK_STATUS_PATH])
async def test_both_status_paths_answer_the_documented_envelope(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, params={"RequestID": CREATED.request_id})

    assert response.status_code == 200
    body = response.json()
    assert body["RequestId"] == CREATED.request_id
    task = body["TaskStatus"]
    assert set(task) == {
        "TaskType",
        "Status",
        "StatusReason",
        "TaskCurrentStep",
        "TaskLastStep",
        "RequestBody",
        "Message",
    }
    assert task["TaskType"] == "Opportunity Capture"
    assert task["Status"] == "Success"
    assert task["StatusReason"] == "Request was successfully completed"
    assert task["TaskCurrentStep"] is None
    assert task["TaskLastStep"] == "In-Process-Queue"


async def test_request_body_and_message_are_escaped_json_strings_like_the_docs(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(STATUS_PATH, params={"RequestID": CREATED.request_id})

    task = response.json()["TaskStatus"]
    assert isinstance(task["RequestBody"], str)
    assert "\r\n" in task["RequestBody"]
    assert "\t" in task["RequestBody"]
    request_body = json.loads(task["RequestBody"])
    assert {"LeadDetails", "Opportunity"} <= set(request_body)
    assert isinstance(task["Message"], str)
    message = json.loads(task["Message"])
    assert message["AdditionalDetails"][0]["PostDeDupActionPerformed"] == 1
    assert message["CreatedOpportunityId"]
    assert message["RelatedProspectId"]
    assert message["IsUnique"] is True
    assert (message["PrimaryAction"], message["SecondaryAction"], message["Status"]) == (1, 2, 0)


@pytest.mark.parametrize("param", ["RequestID", "RequestId", "requestid", "REQUESTID"])
async def test_the_request_id_parameter_name_is_read_in_any_casing(
    client: httpx.AsyncClient, param: str
) -> None:
    response = await client.get(STATUS_PATH, params={param: CREATED.request_id})

    assert response.status_code == 200
    assert response.json()["RequestId"] == CREATED.request_id


async def test_an_upper_case_request_id_finds_the_same_request(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(STATUS_PATH, params={"RequestID": CREATED.request_id.upper()})

    assert response.status_code == 200
    assert response.json()["RequestId"] == CREATED.request_id


async def test_a_missing_request_id_is_answered_400(client: httpx.AsyncClient) -> None:
    response = await client.get(STATUS_PATH)

    assert response.status_code == 400
    assert response.json() == {"Status": "Error", "Message": "RequestID is required"}


async def test_a_request_id_that_is_not_a_guid_is_answered_400(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(STATUS_PATH, params={"RequestID": "not-a-guid"})

    assert response.status_code == 400
    assert response.json() == {"Status": "Error", "Message": "RequestID is not a valid GUID"}


async def test_an_unknown_request_id_is_answered_404_saying_no_request_was_found(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(STATUS_PATH, params={"RequestID": UNKNOWN_REQUEST_ID})

    assert response.status_code == 404
    assert response.json() == {
        "Status": "Error",
        "Message": f"No request found for RequestID {UNKNOWN_REQUEST_ID}",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/opportunity/stat"),
        ("GET", "/lead/status"),
        ("GET", "/"),
        ("POST", STATUS_PATH),
        ("DELETE", METRICS_PATH),
    ],
)
async def test_paths_and_methods_the_api_does_not_serve_get_the_gateway_404(
    app: Starlette, method: str, path: str
) -> None:
    # the gateway answers before any key check, so no key is sent
    async with in_process_client(app, api_key=None) as client:
        response = await client.request(method, path, params={"RequestID": CREATED.request_id})

    assert response.status_code == 404
    assert response.json() == GATEWAY_NOT_FOUND_BODY == {"Message": "API could not be found"}


async def test_a_simulator_serving_only_the_fallback_path_answers_the_default_with_the_gateway_404(
    clock: FakeClock,
) -> None:
    app = create_app(
        SimulatorConfig(api_key=API_KEY, clock=clock, status_paths=(FALLBACK_STATUS_PATH,))
    )
    async with in_process_client(app) as client:
        default = await client.get(STATUS_PATH, params={"RequestID": CREATED.request_id})
        fallback = await client.get(FALLBACK_STATUS_PATH, params={"RequestID": CREATED.request_id})

    assert default.status_code == 404
    assert default.json() == GATEWAY_NOT_FOUND_BODY
    assert fallback.status_code == 200


@pytest.mark.parametrize("api_key", [None, "wrong-key", API_KEY.upper()])
async def test_api_routes_refuse_a_missing_or_wrong_key_with_401(
    app: Starlette, simulator: Simulator, api_key: str | None
) -> None:
    async with in_process_client(app, api_key=api_key) as client:
        status = await client.get(STATUS_PATH, params={"RequestID": CREATED.request_id})
        metrics = await client.get(METRICS_PATH)
        capture = await client.post("/opportunity/capture", json={})

    for response in (status, metrics, capture):
        assert response.status_code == 401
        assert response.json() == {"Status": "Error", "Message": "Invalid API key"}
    assert [call.status_code for call in simulator.calls] == [401, 401, 401]
    assert not any(call.counted for call in simulator.calls)


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_every_seeded_sample_is_served_and_reads_as_its_expectations(
    client: httpx.AsyncClient, name: str
) -> None:
    sample = SAMPLES[name]

    response = await client.get(STATUS_PATH, params={"RequestID": sample.request_id})

    assert response.status_code == 200
    assert response.json() == sample.envelope
    status = parse_status(response.json(), request_id=sample.request_id)
    assert status.request_id == sample.request_id
    shown = status.task.status_raw if status.status is StatusKind.UNKNOWN else status.status.value
    assert shown == sample.expected_status
    outcome = None if status.outcome is None else status.outcome.kind
    assert outcome == sample.expected_outcome
    if sample.exception_type is not None:
        carried = (status.outcome.exception_type if status.outcome else None) or (
            status.task.status_reason or ""
        )
        assert sample.exception_type in carried
