"""Capture submission: accepted, In-Queue for processing_seconds, then final by the body."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shared.lsq.models import StatusKind, parse_status
from shared.simulator import ACCEPTED_MESSAGE, InvalidCaptureBodyError, Simulator

from .conftest import CAPTURE_PATH, METRICS_PATH, STATUS_PATH, FakeClock

PROCESSING_SECONDS = 8.0


def capture_body(
    email: str = "meera.nair@example.in",
    *,
    event_code: int | None = 12000,
    fields: list[dict[str, Any]] | None = None,
    search_by: str | None = "EmailAddress",
) -> dict[str, Any]:
    lead: list[dict[str, Any]] = [
        {"Attribute": "FirstName", "Value": "Meera"},
        {"Attribute": "EmailAddress", "Value": email},
        {"Attribute": "Phone", "Value": "+91-9000012345"},
    ]
    if search_by is not None:
        lead.append({"Attribute": "SearchBy", "Value": search_by})
    opportunity: dict[str, Any] = {"OpportunityNote": "from a test"}
    if event_code is not None:
        opportunity["OpportunityEventCode"] = event_code
    opportunity["Fields"] = (
        [{"SchemaName": "mx_Custom_1", "Value": "Test opportunity"}] if fields is None else fields
    )
    return {"LeadDetails": lead, "Opportunity": opportunity}


async def _submit(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post(
        CAPTURE_PATH, params={"accessKey": "u$r1", "secretKey": "s3cr3t"}, json=body
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["Status"] == ACCEPTED_MESSAGE
    request_id: str = answer["RequestID"]
    return request_id


async def _task(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    response = await client.get(STATUS_PATH, params={"RequestID": request_id})
    assert response.status_code == 200
    task: dict[str, Any] = response.json()["TaskStatus"]
    return task


async def test_a_submission_is_accepted_with_a_new_guid_and_stays_in_queue_until_processed(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    request_id = await _submit(client, capture_body())
    clock.advance(PROCESSING_SECONDS - 0.001)

    task = await _task(client, request_id)

    assert task["Status"] == "In-Queue"
    assert task["TaskCurrentStep"] == "In-Process-Queue"
    assert task["TaskLastStep"] is None
    assert task["Message"] is None
    assert json.loads(task["RequestBody"]) == capture_body()


async def test_a_submission_becomes_success_created_once_processing_seconds_passed(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    request_id = await _submit(client, capture_body())
    clock.advance(PROCESSING_SECONDS)

    task = await _task(client, request_id)

    assert task["Status"] == "Success"
    assert task["StatusReason"] == "Request was successfully completed"
    assert task["TaskCurrentStep"] is None
    assert task["TaskLastStep"] == "In-Process-Queue"
    message = json.loads(task["Message"])
    assert message["AdditionalDetails"][0]["PostDeDupActionPerformed"] == 1
    assert message["CreatedOpportunityId"]
    assert message["ConflictedOpportunityId"] is None
    assert message["RelatedProspectId"]


async def test_the_request_body_is_kept_verbatim(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    raw = (
        '{ "LeadDetails" : [ ],\r\n\t"Opportunity" : { "OpportunityEventCode": 1, "Fields": [1] } }'
    )
    response = await client.post(
        CAPTURE_PATH, content=raw, headers={"content-type": "application/json"}
    )
    clock.advance(PROCESSING_SECONDS)

    task = await _task(client, response.json()["RequestID"])

    assert task["RequestBody"] == raw


async def test_a_second_capture_with_the_same_search_value_is_a_duplicate_of_the_first(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await _submit(client, capture_body("Kiran@Example.com"))
    clock.advance(1.0)
    second = await _submit(client, capture_body("kiran@example.com"))
    clock.advance(PROCESSING_SECONDS)

    first_message = json.loads((await _task(client, first))["Message"])
    second_task = await _task(client, second)

    assert second_task["Status"] == "Success"
    second_message = json.loads(second_task["Message"])
    assert second_message["AdditionalDetails"][0]["PostDeDupActionPerformed"] == 3
    assert second_message["CreatedOpportunityId"] is None
    assert second_message["ConflictedOpportunityId"] == first_message["CreatedOpportunityId"]
    assert second_message["RelatedProspectId"] == first_message["RelatedProspectId"]
    outcome = parse_status({"RequestId": second, "TaskStatus": second_task}).outcome
    assert outcome is not None
    assert outcome.kind == "duplicate"


async def test_different_search_values_each_create_their_own_opportunity(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await _submit(client, capture_body("a@example.com"))
    second = await _submit(client, capture_body("b@example.com"))
    clock.advance(PROCESSING_SECONDS)

    messages = [json.loads((await _task(client, rid))["Message"]) for rid in (first, second)]

    assert all(m["CreatedOpportunityId"] for m in messages)
    assert messages[0]["CreatedOpportunityId"] != messages[1]["CreatedOpportunityId"]


@pytest.mark.parametrize(
    ("body", "exception_type", "text"),
    [
        (
            capture_body(event_code=None),
            "MXMandatoryAttributeMissingException",
            "OpportunityEventCode is a mandatory attribute.",
        ),
        (
            capture_body(fields=[]),
            "MXInvalidActivityFieldsException",
            "Field name : 'mx_Custom_1' of datatype : 'String' is mandatory.",
        ),
        (
            capture_body(search_by="Mobile"),
            "MXInvalidInputException",
            "Invalid SearchBy value : 'Mobile'.",
        ),
    ],
)
async def test_a_body_missing_something_mandatory_ends_in_failure_with_its_mx_exception(
    client: httpx.AsyncClient,
    clock: FakeClock,
    body: dict[str, Any],
    exception_type: str,
    text: str,
) -> None:
    request_id = await _submit(client, body)
    assert (await _task(client, request_id))["Status"] == "In-Queue"
    clock.advance(PROCESSING_SECONDS)

    task = await _task(client, request_id)

    assert task["Status"] == "FAILURE"
    assert task["StatusReason"] == text
    message = json.loads(task["Message"])
    assert (message["ExceptionType"], message["ExceptionMessage"]) == (exception_type, text)
    status = parse_status({"RequestId": request_id, "TaskStatus": task})
    assert status.status is StatusKind.FAILURE


async def test_a_failed_capture_does_not_make_later_ones_duplicates(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _submit(client, capture_body("same@example.com", fields=[]))
    later = await _submit(client, capture_body("same@example.com"))
    clock.advance(PROCESSING_SECONDS)

    message = json.loads((await _task(client, later))["Message"])

    assert message["CreatedOpportunityId"]


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"LeadDetails": []}',
        b'{"Opportunity": {}}',
        b'{"LeadDetails": {}, "Opportunity": {}}',
        b'{"LeadDetails": [], "Opportunity": []}',
    ],
)
async def test_a_body_that_is_not_per_spec_is_answered_400(
    client: httpx.AsyncClient, simulator: Simulator, content: bytes
) -> None:
    response = await client.post(CAPTURE_PATH, content=content)

    assert response.status_code == 400
    assert response.json()["Status"] == "Error"
    assert response.json()["Message"].startswith("Invalid request body")
    assert simulator.metrics()["PendingMessages"] == 2  # only the seeded in-queue samples


def test_submit_in_process_behaves_like_the_post(simulator: Simulator, clock: FakeClock) -> None:
    request_id = simulator.submit(capture_body())

    queued = simulator.status_envelope(request_id)
    clock.advance(PROCESSING_SECONDS)
    done = simulator.status_envelope(request_id)

    assert queued is not None
    assert done is not None
    assert queued["TaskStatus"]["Status"] == "In-Queue"
    assert done["TaskStatus"]["Status"] == "Success"
    assert json.loads(done["TaskStatus"]["RequestBody"]) == capture_body()
    with pytest.raises(InvalidCaptureBodyError):
        simulator.submit({"LeadDetails": []})


async def test_metrics_start_with_the_seeded_queued_samples_and_no_delay(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(METRICS_PATH)

    assert response.status_code == 200
    assert response.json() == {
        "PendingMessages": 2,
        "MaxDelayInSeconds": 0,
        "ProcessingratePerMinute": 0.0,
    }


async def test_metrics_reflect_queued_submissions_their_delay_and_the_processing_rate(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _submit(client, capture_body("one@example.com"))
    clock.advance(3.0)
    await _submit(client, capture_body("two@example.com"))
    clock.advance(1.5)

    queued = (await client.get(METRICS_PATH)).json()
    clock.advance(4.0)  # the first is done, the second has 2.5 s left
    half = (await client.get(METRICS_PATH)).json()
    clock.advance(10.0)
    done = (await client.get(METRICS_PATH)).json()
    clock.advance(600.0)
    later = (await client.get(METRICS_PATH)).json()

    assert queued == {"PendingMessages": 4, "MaxDelayInSeconds": 7, "ProcessingratePerMinute": 0.0}
    assert half == {"PendingMessages": 3, "MaxDelayInSeconds": 3, "ProcessingratePerMinute": 0.1}
    assert done == {"PendingMessages": 2, "MaxDelayInSeconds": 0, "ProcessingratePerMinute": 0.2}
    assert later["ProcessingratePerMinute"] == 0.0
