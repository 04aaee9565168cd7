"""The status envelope and metrics are read tolerantly into typed models."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.errors import MalformedResponseError
from shared.lsq.models import DecodedJson, StatusKind, parse_metrics, parse_status

# The example response of LeadSquared's Capture Opportunities Status page, as published
# (the two inner fields are JSON-encoded strings, the body with \r\n and tabs inside).
# ruff: noqa: E501
SEED_EXAMPLE = r"""{
  "RequestId": "c1d867a7-a325-4b68-954f-237dcd3c15e1",
  "TaskStatus": {
    "TaskType": "Opportunity Capture",
    "Status": "Success",
    "StatusReason": "Request was successfully completed",
    "TaskCurrentStep": null,
    "TaskLastStep": "In-Process-Queue",
    "RequestBody": "{\r\n \"LeadDetails\": [\r\n\t{\r\n\t\"Attribute\": \"EmailAddress\",\r\n\t\"Value\": \"john.doe@example.com\"\r\n\t},\r\n\t{\r\n\t\"Attribute\": \"SearchBy\",\r\n\t\"Value\": \"EmailAddress\"\r\n\t}\r\n ],\r\n \"Opportunity\": {\r\n\t\"OpportunityEventCode\": 12000,\r\n\t\"OpportunityNote\": \"Opportunity capture api overwrite\",\r\n\t\"Fields\": [\r\n\t{\r\n\t\"SchemaName\": \"mx_Custom_1\",\r\n\t\"Value\": \"Opportunity Name\"\r\n\t}\r\n\t]\r\n }\r\n}",
    "Message": "{\"AdditionalDetails\":[{\"ActivityId\":\"ec2b45cc-6d2f-4e52-a1e9-2f6a1b9c0d11\",\"PostDeDupActionPerformed\":1}],\"ConflictedOpportunityId\":null,\"CreatedOpportunityId\":\"0722f894-1c2d-4e5f-8a9b-0c1d2e3f4a5b\",\"ExceptionMessage\":null,\"ExceptionType\":null,\"IsUnique\":true,\"PrimaryAction\":1,\"RelatedProspectId\":\"e7b8c25f-3a4b-4c5d-9e6f-7a8b9c0d1e2f\",\"RequestId\":\"c49a045b-5d6e-4f70-8192-a3b4c5d6e7f8\",\"SecondaryAction\":2,\"Status\":0}"
  }
}"""
SEED_ID = "c1d867a7-a325-4b68-954f-237dcd3c15e1"


def test_the_published_example_parses_into_every_field() -> None:
    status = parse_status(json.loads(SEED_EXAMPLE), request_id=SEED_ID)
    task = status.task
    assert status.request_id == SEED_ID
    assert task.task_type == "Opportunity Capture"
    assert task.status is StatusKind.SUCCESS
    assert task.status_raw == "Success"
    assert task.status_reason == "Request was successfully completed"
    assert task.current_step is None
    assert task.last_step == "In-Process-Queue"
    assert task.request_body.decoded
    body: Any = task.request_body.value
    assert body["Opportunity"]["OpportunityEventCode"] == 12000
    assert body["LeadDetails"][1] == {"Attribute": "SearchBy", "Value": "EmailAddress"}
    assert task.message.decoded
    outcome = status.outcome
    assert outcome is not None
    assert outcome.kind == "created"
    assert outcome.created_opportunity_id == "0722f894-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    assert outcome.conflicted_opportunity_id is None
    assert outcome.related_prospect_id == "e7b8c25f-3a4b-4c5d-9e6f-7a8b9c0d1e2f"
    assert outcome.activity_ids == ("ec2b45cc-6d2f-4e52-a1e9-2f6a1b9c0d11",)
    assert outcome.post_dedup_actions == (1,)
    assert outcome.is_unique is True
    assert (outcome.primary_action, outcome.secondary_action) == (1, 2)
    assert outcome.sync_status == 0
    assert outcome.exception_type is None
    assert outcome.exception_message is None
    assert outcome.sync_request_id == "c49a045b-5d6e-4f70-8192-a3b4c5d6e7f8"
    assert status.is_final


def test_keys_are_read_whatever_their_casing() -> None:
    payload = {
        "requestID": SEED_ID,
        "TASKSTATUS": {"status": "ERROR", "statusreason": "Unable to Connect to DB"},
    }
    status = parse_status(payload)
    assert status.request_id == SEED_ID
    assert status.status is StatusKind.ERROR
    assert status.task.status_reason == "Unable to Connect to DB"
    assert not status.is_final


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("In-Queue", StatusKind.IN_QUEUE),
        ("in-queue", StatusKind.IN_QUEUE),
        ("INQUEUE", StatusKind.IN_QUEUE),
        ("success", StatusKind.SUCCESS),
        ("Failure", StatusKind.FAILURE),
        ("error", StatusKind.ERROR),
        ("Paused", StatusKind.UNKNOWN),
        ("", StatusKind.UNKNOWN),
    ],
)
def test_statuses_match_case_insensitively_and_unknown_ones_are_kept(
    raw: str, kind: StatusKind
) -> None:
    assert StatusKind.from_raw(raw) is kind


def test_an_unknown_status_keeps_its_raw_text() -> None:
    status = parse_status({"TaskStatus": {"Status": "Paused"}}, request_id=SEED_ID)
    assert status.status is StatusKind.UNKNOWN
    assert status.task.status_raw == "Paused"


@pytest.mark.parametrize(
    ("field", "present", "decoded", "raw"),
    [
        (None, False, False, None),
        ("", False, False, None),
        ("null", False, False, None),
        ('{"a": 1}', True, True, None),
        ({"a": 1}, True, True, None),
        ([1, 2], True, True, None),
        ("not json {", True, False, "not json {"),
    ],
)
def test_double_encoded_fields_accept_strings_objects_and_null(
    field: object, present: bool, decoded: bool, raw: str | None
) -> None:
    value = DecodedJson.from_field(field)
    assert value.present is present
    assert value.decoded is decoded
    assert value.raw == raw


def test_a_message_given_as_an_object_is_decoded_like_a_string() -> None:
    message = {"CreatedOpportunityId": None, "ConflictedOpportunityId": "abc",
               "AdditionalDetails": [{"PostDeDupActionPerformed": 3}]}  # fmt: skip
    status = parse_status({"TaskStatus": {"Status": "Success", "Message": message}})
    assert status.outcome is not None
    assert status.outcome.kind == "duplicate"
    assert status.outcome.conflicted_opportunity_id == "abc"


def test_a_failed_capture_keeps_its_exception() -> None:
    message = json.dumps({"ExceptionType": "MXInvalidInputException", "ExceptionMessage": "bad"})
    status = parse_status({"TaskStatus": {"Status": "FAILURE", "Message": message}})
    assert status.outcome is not None
    assert status.outcome.kind == "failed"
    assert status.outcome.exception_type == "MXInvalidInputException"


def test_action_numbers_stay_raw_numbers() -> None:
    message = {"CreatedOpportunityId": "x", "PrimaryAction": "7", "SecondaryAction": 1.0}
    status = parse_status({"TaskStatus": {"Status": "Success", "Message": message}})
    assert status.outcome is not None
    assert (status.outcome.primary_action, status.outcome.secondary_action) == (7, 1)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        None,
        {},
        {"TaskStatus": None},
        {"TaskStatus": {}},
        {"TaskStatus": "nonsense"},
        {"TaskStatus": {"TaskType": "Opportunity Capture"}},
    ],
)
def test_an_envelope_without_a_status_is_a_typed_error(payload: object) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        parse_status(payload, request_id=SEED_ID)
    assert caught.value.request_id == SEED_ID
    assert "Try again" in caught.value.message or "Check" in caught.value.message


def test_metrics_are_read_with_any_key_casing() -> None:
    metrics = parse_metrics(
        {"PendingMessages": 1, "MaxDelayInSeconds": 0, "ProcessingratePerMinute": 24.8}
    )
    assert metrics.pending_messages == 1
    assert metrics.max_delay_seconds == 0
    assert metrics.processing_rate_per_minute == 24.8


def test_unreadable_metric_values_are_unknown_not_errors() -> None:
    metrics = parse_metrics({"pendingmessages": "many", "maxdelayinseconds": 1e400})
    assert metrics.pending_messages is None
    assert metrics.max_delay_seconds is None
    with pytest.raises(MalformedResponseError):
        parse_metrics([1, 2])
