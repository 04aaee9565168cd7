"""The seeded samples: fixed ids, realistic bodies with PII, every documented shape."""

from __future__ import annotations

import json
import re

import pytest

from shared.lsq.ids import find_request_ids
from shared.simulator.samples import SAMPLES, UNKNOWN_REQUEST_ID, sample_ids_for, samples_for

KNOWN_MX_EXCEPTIONS = {
    "MXInvalidActivityFieldsException",
    "MXMandatoryAttributeMissingException",
    "MXInvalidInputException",
    "MXDuplicateEntryException",
    "MXInvalidEntityException",
    "MXAPIRateLimitExceededException",
}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE = re.compile(r"\+\d[\d\s-]{7,}")


def _task(name: str) -> dict[str, object]:
    envelope = dict(SAMPLES[name].envelope)
    return {key.lower(): value for key, value in envelope["TaskStatus"].items()}


def test_sample_ids_are_distinct_lower_case_guids_and_never_the_unknown_id() -> None:
    ids = [sample.request_id for sample in SAMPLES.values()]

    assert len(set(ids)) == len(ids)
    assert all(find_request_ids(request_id) == [request_id] for request_id in ids)
    assert UNKNOWN_REQUEST_ID not in ids
    assert find_request_ids(UNKNOWN_REQUEST_ID) == [UNKNOWN_REQUEST_ID]


def test_the_samples_cover_every_documented_shape() -> None:
    assert {
        "created",
        "created_message_object",
        "duplicate",
        "error",
        "in_queue",
        "unknown_status",
        "request_body_not_json",
    } <= set(SAMPLES)
    failures = {s.exception_type for s in SAMPLES.values() if s.expected_status == "FAILURE"}
    assert failures >= KNOWN_MX_EXCEPTIONS
    assert failures - KNOWN_MX_EXCEPTIONS, "one FAILURE carries an exception no list knows"


def test_status_casing_varies_across_samples() -> None:
    raw_statuses = {str(_task(name)["status"]) for name in SAMPLES}

    assert {"Success", "FAILURE", "ERROR", "In-Queue"} <= raw_statuses
    assert {"success", "Failure", "in-queue"} <= raw_statuses


def test_failures_carry_their_exception_in_message_for_some_and_status_reason_only_for_others() -> (
    None
):
    failures = [name for name, s in SAMPLES.items() if s.expected_status == "FAILURE"]
    in_message = [name for name in failures if _task(name)["message"] is not None]
    reason_only = [name for name in failures if _task(name)["message"] is None]

    assert in_message
    assert reason_only
    for name in reason_only:
        assert str(SAMPLES[name].exception_type) in str(_task(name)["statusreason"])
    for name in in_message:
        message = json.loads(str(_task(name)["message"]))
        assert message["ExceptionType"] == SAMPLES[name].exception_type
        assert message["ExceptionMessage"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_request_body_holds_lead_pii(name: str) -> None:
    request_body = str(_task(name)["requestbody"])

    assert EMAIL.search(request_body)
    assert PHONE.search(request_body)


@pytest.mark.parametrize("name", sorted(n for n in SAMPLES if n != "request_body_not_json"))
def test_json_request_bodies_hold_leads_and_an_opportunity_with_fields(name: str) -> None:
    body = json.loads(str(_task(name)["requestbody"]))

    attributes = {item["Attribute"] for item in body["LeadDetails"]}
    assert {"EmailAddress", "Phone"} <= attributes
    assert "OpportunityNote" in body["Opportunity"]
    assert body["Opportunity"]["Fields"]


def test_the_not_json_request_body_is_really_not_json() -> None:
    request_body = str(_task("request_body_not_json")["requestbody"])

    with pytest.raises(ValueError, match="Expecting property name"):
        json.loads(request_body)


def test_the_duplicate_sample_points_at_the_conflicting_opportunity_and_created_none() -> None:
    message = json.loads(str(_task("duplicate")["message"]))

    assert message["AdditionalDetails"][0]["PostDeDupActionPerformed"] == 3
    assert message["ConflictedOpportunityId"]
    assert message["CreatedOpportunityId"] is None


def test_the_docs_exception_message_is_used_verbatim() -> None:
    message = json.loads(str(_task("failure_invalid_activity_fields")["message"]))

    assert message["ExceptionMessage"] == (
        "Field name : 'mx_Custom_19' of datatype : 'String' is mandatory."
    )


def test_the_error_sample_is_a_system_error_still_in_a_step() -> None:
    task = _task("error")

    assert task["status"] == "ERROR"
    assert task["statusreason"] == "Unable to Connect to DB"
    assert task["taskcurrentstep"]


def test_the_in_queue_sample_has_no_last_step_and_no_message() -> None:
    task = _task("in_queue")

    assert task["status"] == "In-Queue"
    assert task["taskcurrentstep"] == "In-Process-Queue"
    assert task["tasklaststep"] is None
    assert task["message"] is None


def test_the_message_object_sample_uses_an_object_and_other_key_casings() -> None:
    envelope = dict(SAMPLES["created_message_object"].envelope)
    task = _task("created_message_object")

    assert "RequestID" in envelope
    assert isinstance(task["message"], dict)


def test_the_default_account_has_the_samples_under_their_fixed_ids() -> None:
    assert samples_for("default") is SAMPLES
    assert sample_ids_for("default") == {name: s.request_id for name, s in SAMPLES.items()}


def test_another_account_has_every_sample_under_ids_of_its_own_the_same_in_every_run() -> None:
    eu = sample_ids_for("eu")
    default_ids = set(sample_ids_for("default").values())

    assert set(eu) == set(SAMPLES)
    assert len(set(eu.values())) == len(eu)
    assert not set(eu.values()) & default_ids
    assert UNKNOWN_REQUEST_ID not in eu.values()
    assert all(find_request_ids(request_id) == [request_id] for request_id in eu.values())
    # fixed forever: uuid5 of the account name and the sample's default id
    assert eu["created"] == "ec85081b-364e-5122-9e12-a46a31fd9950"


def test_two_other_accounts_do_not_share_sample_ids() -> None:
    assert not set(sample_ids_for("eu").values()) & set(sample_ids_for("us").values())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_another_accounts_sample_tells_the_same_story_under_its_own_id(name: str) -> None:
    default, eu = SAMPLES[name], samples_for("eu")[name]
    envelope = dict(eu.envelope)
    id_key = next(key for key in envelope if key.lower() == "requestid")

    assert envelope[id_key] == eu.request_id == sample_ids_for("eu")[name]
    assert {k: v for k, v in envelope.items() if k != id_key} == {
        k: v for k, v in default.envelope.items() if k != id_key
    }
    assert (eu.description, eu.expected_status, eu.expected_outcome, eu.exception_type) == (
        default.description,
        default.expected_status,
        default.expected_outcome,
        default.exception_type,
    )


def test_moving_samples_to_another_account_leaves_the_default_envelopes_alone() -> None:
    samples_for("eu-fresh")

    assert SAMPLES["created"].envelope["RequestId"] == SAMPLES["created"].request_id
    assert SAMPLES["created_message_object"].envelope["RequestID"] == (
        SAMPLES["created_message_object"].request_id
    )
