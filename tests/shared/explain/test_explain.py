"""The explanation engine: every status, every error, the MX catalogue, and no PII leaks."""

from __future__ import annotations

import copy
import json
import re
import string
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared import errors
from shared.errors import (
    AuthenticationError,
    BadRequestError,
    CaptureStatusError,
    CircuitOpenError,
    ConfigurationError,
    DeadlineExceededError,
    EndpointNotFoundError,
    InvalidRequestIdError,
    MalformedResponseError,
    RateLimitedError,
    RequestNotFoundError,
    ServerError,
    TooManyRequestIdsError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeoutError,
)
from shared.explain.engine import (
    UPSTREAM_TEXT_LIMIT,
    Explanation,
    Severity,
    describe_metrics,
    explain,
    explain_error,
    format_duration,
)
from shared.explain.mx_exceptions import (
    KNOWN_EXCEPTIONS,
    RETRY_DELAYS_SECONDS,
    catalogue_markdown,
    describe_exception,
    find_exception,
)
from shared.explain.redact import Redactor
from shared.lsq.models import QueueMetrics, StatusKind, parse_metrics, parse_status
from tests.shared.explain.test_redact import phone_numbers

APP = "https://run.leadsquared.com"
REQUEST_ID = "c1d867a7-a325-4b68-954f-237dcd3c15e1"
OPPORTUNITY_ID = "0722f894-3c1d-4e5f-9a8b-7c6d5e4f3a2b"
EXISTING_OPPORTUNITY_ID = "5d0c9e8b-7a6f-4e3d-8c2b-1a0f9e8d7c6b"
LEAD_ID = "e7b8c25f-0d1e-4f2a-8b3c-9d4e5f6a7b8c"
ACTIVITY_ID = "ec2b45cc-9e8d-4c7b-a6f5-e4d3c2b1a098"
SYNC_REQUEST_ID = "c49a045b-1f2e-4d3c-b4a5-968778695a4b"

# LeadSquared's example status answer (see docs/leadsquared.md), verbatim, "..." filled in.
SEED_ENVELOPE: dict[str, Any] = {
    "RequestId": "c1d867a7-a325-4b68-954f-237dcd3c15e1",
    "TaskStatus": {
        "TaskType": "Opportunity Capture",
        "Status": "Success",
        "StatusReason": "Request was successfully completed",
        "TaskCurrentStep": None,
        "TaskLastStep": "In-Process-Queue",
        "RequestBody": (
            '{\r\n "LeadDetails": [ {\r\n\t"Attribute": "EmailAddress",\r\n\t"Value": '
            '"priya.raman@example.com"\r\n }, {\r\n\t"Attribute": "FirstName",\r\n\t"Value": '
            '"Priya"\r\n }, {\r\n\t"Attribute": "Phone",\r\n\t"Value": "+91-9876543212"\r\n }, '
            '{\r\n\t"Attribute": "SearchBy",\r\n\t"Value": "EmailAddress"\r\n } ], '
            '"Opportunity": { "OpportunityEventCode": 12000, "OpportunityNote": '
            '"Home loan enquiry, call on +91 98765 43212", "UpdateEmptyFields": true, '
            '"Fields": [ { "SchemaName": "mx_Custom_1", "Value": "Home loan" }, '
            '{ "SchemaName": "mx_Custom_2", "Value": "2500000" } ] } }'
        ),
        "Message": (
            '{"AdditionalDetails":[{"ActivityId":"ec2b45cc-9e8d-4c7b-a6f5-e4d3c2b1a098",'
            '"PostDeDupActionPerformed":1}],"ConflictedOpportunityId":null,'
            '"CreatedOpportunityId":"0722f894-3c1d-4e5f-9a8b-7c6d5e4f3a2b",'
            '"ExceptionMessage":null,"ExceptionType":null,"IsUnique":true,"PrimaryAction":1,'
            '"RelatedProspectId":"e7b8c25f-0d1e-4f2a-8b3c-9d4e5f6a7b8c",'
            '"RequestId":"c49a045b-1f2e-4d3c-b4a5-968778695a4b","SecondaryAction":2,"Status":0}'
        ),
    },
}

DUPLICATE_MESSAGE: dict[str, Any] = {
    "AdditionalDetails": [{"ActivityId": ACTIVITY_ID, "PostDeDupActionPerformed": 3}],
    "ConflictedOpportunityId": EXISTING_OPPORTUNITY_ID,
    "CreatedOpportunityId": None,
    "ExceptionMessage": None,
    "ExceptionType": None,
    "IsUnique": True,
    "PrimaryAction": 4,
    "RelatedProspectId": LEAD_ID,
    "RequestId": SYNC_REQUEST_ID,
    "SecondaryAction": 0,
    "Status": 0,
}


def envelope(**task: Any) -> dict[str, Any]:
    """The seed envelope with some TaskStatus fields replaced (``None`` values are kept)."""
    copied = copy.deepcopy(SEED_ENVELOPE)
    copied["TaskStatus"].update(task)
    return copied


def explained(
    *, metrics: QueueMetrics | None = None, app: str | None = None, **task: Any
) -> Explanation:
    return explain(parse_status(envelope(**task)), metrics, app_base_url=app)


def fact(explanation: Explanation, label: str) -> str:
    values = [f.value for f in explanation.facts if f.label == label]
    assert len(values) == 1, f"expected one fact {label!r} in {explanation.facts}"
    return values[0]


def everything(explanation: Explanation) -> str:
    return explanation.model_dump_json()


# --- Success --------------------------------------------------------------------------


class TestCreated:
    def test_the_seed_envelope_explains_as_a_created_opportunity(self) -> None:
        e = explain(parse_status(SEED_ENVELOPE), app_base_url=APP)
        assert e.status is StatusKind.SUCCESS
        assert e.outcome == "created"
        assert e.severity is Severity.OK
        assert e.symbol == StatusKind.SUCCESS.symbol
        assert e.headline == f"Opportunity created: {OPPORTUNITY_ID}"
        assert e.is_final
        assert e.error_code is None
        assert e.request_id == REQUEST_ID
        assert LEAD_ID in e.what_happened
        assert "may have created that lead" in e.why
        assert "(EmailAddress)" in e.why
        assert any("final" in step for step in e.next_steps)

    def test_facts_hold_the_ids_and_the_raw_numbers(self) -> None:
        e = explain(parse_status(SEED_ENVELOPE))
        assert fact(e, "Opportunity id (CreatedOpportunityId)") == OPPORTUNITY_ID
        assert fact(e, "Lead id (RelatedProspectId)") == LEAD_ID
        assert fact(e, "Activity id") == ACTIVITY_ID
        assert fact(e, "IsUnique") == "true"
        assert fact(e, "PrimaryAction (raw)") == "1"
        assert fact(e, "SecondaryAction (raw)") == "2"
        assert fact(e, "PostDeDupActionPerformed") == "1"
        assert fact(e, "Task type") == "Opportunity Capture"
        assert fact(e, "Last step") == "In-Process-Queue"
        assert fact(e, "Status reason") == "Request was successfully completed"

    def test_primary_and_secondary_action_appear_only_as_numbers(self) -> None:
        for e in (
            explain(parse_status(SEED_ENVELOPE)),
            explained(Message=json.dumps(DUPLICATE_MESSAGE)),
        ):
            action_facts = [f for f in e.facts if "Action" in f.label and "DeDup" not in f.label]
            assert {f.label for f in action_facts} == {
                "PrimaryAction (raw)",
                "SecondaryAction (raw)",
            }
            assert all(re.fullmatch(r"-?\d+", f.value) for f in action_facts)
            prose = " ".join([e.headline, e.what_happened, e.why, *e.next_steps])
            assert "PrimaryAction" not in prose
            assert "SecondaryAction" not in prose

    def test_links_open_the_opportunity_with_its_event_code_and_the_lead(self) -> None:
        e = explain(parse_status(SEED_ENVELOPE), app_base_url=APP + "/")
        assert [link.url for link in e.links] == [
            f"{APP}/OpportunityManagement/OpportunityDetails"
            f"?opportunityId={OPPORTUNITY_ID}&opportunityEvent=12000",
            f"{APP}/LeadManagement/LeadDetails?LeadID={LEAD_ID}",
        ]

    def test_no_links_without_an_app_base_url(self) -> None:
        assert explain(parse_status(SEED_ENVELOPE)).links == ()

    def test_the_event_parameter_is_left_out_when_the_body_has_no_event_code(self) -> None:
        e = explained(app=APP, RequestBody=None)
        assert e.links[0].url == (
            f"{APP}/OpportunityManagement/OpportunityDetails?opportunityId={OPPORTUNITY_ID}"
        )
        assert e.request_summary is None

    def test_link_values_are_url_encoded(self) -> None:
        message = json.loads(SEED_ENVELOPE["TaskStatus"]["Message"])
        message["RelatedProspectId"] = "a b&c=d/e"
        e = explained(app=APP, Message=json.dumps(message))
        assert e.links[-1].url == f"{APP}/LeadManagement/LeadDetails?LeadID=a%20b%26c%3Dd%2Fe"

    def test_the_request_summary_keeps_ids_and_event_codes_but_masks_the_note(self) -> None:
        e = explain(parse_status(SEED_ENVELOPE))
        summary = e.request_summary
        assert summary is not None
        assert summary.opportunity_event_code == 12000
        assert summary.search_by == "EmailAddress"
        assert summary.opportunity_field_names == ("mx_Custom_1", "mx_Custom_2")
        assert summary.opportunity_note == "Home loan enquiry, call on +91 ******12"


class TestDuplicate:
    def test_a_duplicate_names_the_existing_opportunity_and_creates_nothing(self) -> None:
        e = explained(Message=json.dumps(DUPLICATE_MESSAGE), app=APP)
        assert e.outcome == "duplicate"
        assert e.severity is Severity.WARNING
        assert e.is_final
        assert e.headline == (
            f"Duplicate: no new opportunity; matches existing {EXISTING_OPPORTUNITY_ID}"
        )
        assert "no new opportunity was created" in e.what_happened
        assert "duplicate-detected activity was posted" in e.what_happened
        assert fact(e, "Existing opportunity (ConflictedOpportunityId)") == (
            EXISTING_OPPORTUNITY_ID
        )
        assert "created" not in e.headline.lower()

    def test_next_steps_offer_updating_the_existing_one_or_changing_duplicate_rules(
        self,
    ) -> None:
        e = explained(Message=json.dumps(DUPLICATE_MESSAGE))
        assert f"update opportunity {EXISTING_OPPORTUNITY_ID}" in e.next_steps[0]
        assert "duplicate detection rules" in e.next_steps[1]
        assert "new RequestId" in e.next_steps[1]

    def test_is_unique_is_flagged_as_unreliable(self) -> None:
        e = explained(Message=json.dumps(DUPLICATE_MESSAGE))
        assert "IsUnique reads true" in e.why
        assert "no duplicate rules are configured" in e.why

    def test_the_link_opens_the_conflicting_opportunity(self) -> None:
        e = explained(Message=json.dumps(DUPLICATE_MESSAGE), app=APP)
        assert e.links[0].url == (
            f"{APP}/OpportunityManagement/OpportunityDetails"
            f"?opportunityId={EXISTING_OPPORTUNITY_ID}&opportunityEvent=12000"
        )
        assert "conflicting" in e.links[0].label


class TestSuccessWithoutReadableDetails:
    def test_an_undecodable_message_is_kept_raw_and_masked(self) -> None:
        e = explained(Message="<html>ok for priya.raman@example.com</html>")
        assert e.severity is Severity.INFO
        assert e.outcome is None
        assert e.headline == "Succeeded, but the result details could not be read"
        assert "not valid JSON" in e.what_happened
        assert fact(e, "Message (raw)") == "<html>ok for p***@e***.com</html>"
        assert e.is_final

    def test_an_absent_message_says_no_details_were_sent(self) -> None:
        e = explained(Message=None)
        assert e.headline == "Succeeded; LeadSquared sent no result details"
        assert "searched leads by EmailAddress" in e.next_steps[0]

    def test_a_message_that_is_not_an_object_is_shown_masked(self) -> None:
        e = explained(Message=json.dumps(["priya.raman@example.com"]))
        assert "not a JSON object" in e.what_happened
        assert fact(e, "Message (raw)") == '["p***@e***.com"]'

    def test_a_success_whose_response_carries_an_exception_is_an_error(self) -> None:
        message = {"ExceptionType": "MXInvalidInputException", "ExceptionMessage": "bad"}
        e = explained(Message=json.dumps(message))
        assert e.severity is Severity.ERROR
        assert "MXInvalidInputException" in e.headline
        assert e.next_steps[0] == KNOWN_EXCEPTIONS["MXInvalidInputException"].fix

    def test_a_response_without_opportunity_ids_is_not_interpreted(self) -> None:
        e = explained(Message=json.dumps({"Status": 2, "PrimaryAction": 7}))
        assert e.outcome == "unknown"
        assert e.headline == "Succeeded, but the response names no opportunity"
        assert fact(e, "PrimaryAction (raw)") == "7"


# --- FAILURE --------------------------------------------------------------------------


class TestFailure:
    @pytest.mark.parametrize("name", sorted(KNOWN_EXCEPTIONS))
    def test_a_known_exception_in_the_reason_gets_its_meaning_and_fix(self, name: str) -> None:
        e = explained(Status="FAILURE", StatusReason=f"{name}: something went wrong", Message=None)
        known = KNOWN_EXCEPTIONS[name]
        assert e.status is StatusKind.FAILURE
        assert e.severity is Severity.ERROR
        assert e.symbol == StatusKind.FAILURE.symbol
        assert e.headline == f"Failed: {name}"
        assert known.meaning in e.why
        assert e.next_steps[0] == known.fix
        assert "new RequestId" in e.next_steps[1]
        assert "never retries" in e.next_steps[1]
        assert e.is_final

    def test_the_exception_type_in_the_message_wins_over_the_reason(self) -> None:
        message = {
            "ExceptionType": "MXDuplicateEntryException",
            "ExceptionMessage": "A lead with this Phone exists",
        }
        e = explained(
            Status="FAILURE",
            StatusReason="MXInvalidInputException mentioned later",
            Message=json.dumps(message),
        )
        assert e.headline == "Failed: MXDuplicateEntryException"
        assert "Exception message: A lead with this Phone exists." in e.why
        assert fact(e, "ExceptionType") == "MXDuplicateEntryException"

    def test_the_documented_mandatory_field_example_reads_well(self) -> None:
        reason = (
            "MXInvalidActivityFieldsException: Field name : 'mx_Custom_19' of datatype : "
            "'String' is mandatory."
        )
        e = explained(Status="FAILURE", StatusReason=reason, Message=None)
        assert e.headline == "Failed: MXInvalidActivityFieldsException"
        assert f"Reason given: {reason}" in e.why
        assert "mandatory fields" in e.next_steps[0]

    def test_an_unknown_mx_exception_is_shown_raw_and_not_interpreted(self) -> None:
        e = explained(Status="FAILURE", StatusReason="MXQuantumFluxException: flux", Message=None)
        assert e.headline == "Failed: MXQuantumFluxException (not in this tool's catalogue)"
        assert "does not know" in e.why
        assert "Reason given: MXQuantumFluxException: flux" in e.why
        assert REQUEST_ID in e.next_steps[2]

    def test_without_an_exception_name_the_reason_is_shown(self) -> None:
        e = explained(Status="FAILURE", StatusReason="Opportunity type is disabled", Message=None)
        assert e.headline == "Failed: Opportunity type is disabled"
        assert "Reason given: Opportunity type is disabled." in e.why
        assert "new RequestId" in e.next_steps[1]

    def test_without_any_reason_it_says_so(self) -> None:
        e = explained(Status="FAILURE", StatusReason=None, Message=None)
        assert e.headline == "Failed; LeadSquared gave no reason"
        assert e.why == "LeadSquared gave no reason and no exception name."

    def test_a_very_long_reason_is_truncated(self) -> None:
        e = explained(Status="FAILURE", StatusReason="x " * 2000, Message=None)
        reason = fact(e, "Status reason")
        assert len(reason) <= UPSTREAM_TEXT_LIMIT
        assert reason.endswith("…")
        assert len(e.headline) < 120


# --- ERROR, In-Queue, unknown ---------------------------------------------------------


class TestSystemError:
    def test_error_is_likely_retried_and_not_final(self) -> None:
        e = explained(Status="ERROR", StatusReason="Unable to Connect to DB", Message=None)
        assert e.severity is Severity.WARNING
        assert e.symbol == StatusKind.ERROR.symbol
        assert not e.is_final
        assert e.headline == "System error: LeadSquared will likely retry it"
        assert "most likely" in e.why
        assert "not documented" in e.why
        assert "30 s, 2 min, 7 min, 15 min, 30 min, 45 min, 60 min, 1.5 h, 2 h and 3 h" in e.why
        assert "about 9 h 10 min" in e.why
        assert "Reason given: Unable to Connect to DB" in e.why

    def test_next_steps_are_wait_then_escalate_with_the_request_id(self) -> None:
        e = explained(Status="ERROR", StatusReason=None, Message=None)
        assert e.next_steps[0].startswith("Wait and check again")
        assert "Do not resubmit yet" in e.next_steps[1]
        assert "about 9 h 10 min" in e.next_steps[2]
        assert f"RequestId {REQUEST_ID}" in e.next_steps[2]

    def test_an_mx_exception_under_error_is_said_not_to_be_retried(self) -> None:
        e = explained(
            Status="ERROR", StatusReason="MXInvalidInputException: bad SearchBy", Message=None
        )
        assert "will likely not retry" in e.headline
        assert "does not retry" in e.why
        assert e.next_steps[0] == KNOWN_EXCEPTIONS["MXInvalidInputException"].fix
        assert not e.is_final

    def test_the_retry_schedule_adds_up_to_about_nine_hours_ten_minutes(self) -> None:
        assert len(RETRY_DELAYS_SECONDS) == 10
        assert abs(sum(RETRY_DELAYS_SECONDS) - (9 * 3600 + 10 * 60)) < 60


class TestInQueue:
    def test_with_metrics_it_reads_the_queue_and_estimates(self) -> None:
        metrics = parse_metrics(
            {"PendingMessages": 3, "MaxDelayInSeconds": 120, "ProcessingratePerMinute": 25}
        )
        e = explained(
            metrics=metrics, Status="In-Queue", StatusReason=None, Message=None, TaskLastStep=None
        )
        assert e.severity is Severity.INFO
        assert e.symbol == StatusKind.IN_QUEUE.symbol
        assert not e.is_final
        assert e.headline == "Waiting in the queue (3 requests ahead)"
        assert "Queue now: 3 requests ahead, worst-case delay ~2 min, processing ~25/min." in e.why
        assert "take about 7 s" in e.why
        assert e.next_steps[0] == "Check again in about 2 min."
        assert REQUEST_ID in e.next_steps[1]
        assert fact(e, "Requests in queue") == "3"
        assert fact(e, "Worst-case delay") == "~2 min"
        assert fact(e, "Processing rate (10-min average)") == "~25/min"
        assert "nothing has been created" in e.what_happened

    def test_without_metrics_it_says_how_to_get_them(self) -> None:
        e = explained(Status="In-Queue", StatusReason=None, Message=None)
        assert e.headline == "Waiting in the queue"
        assert "not fetched" in e.why
        assert "queue metrics" in e.next_steps[0]

    def test_a_stalled_queue_is_pointed_out(self) -> None:
        metrics = QueueMetrics(pending_messages=40, processing_rate_per_minute=0)
        e = explained(metrics=metrics, Status="in-queue", Message=None)
        assert "may be stalled" in e.why
        assert fact(e, "Status (as sent)") == "in-queue"


class TestUnknownStatus:
    def test_an_unknown_status_is_shown_raw_and_not_guessed(self) -> None:
        e = explained(Status="Paused-By-Admin", StatusReason="maintenance", Message=None)
        assert e.status is StatusKind.UNKNOWN
        assert e.status_raw == "Paused-By-Admin"
        assert e.symbol == StatusKind.UNKNOWN.symbol
        assert e.headline == "Unrecognised status: Paused-By-Admin"
        assert "does not know" in e.what_happened
        assert "does not guess" in e.why
        assert "Reason given: maintenance" in e.why
        assert not e.is_final
        assert '"Paused-By-Admin"' in e.next_steps[1]

    def test_pii_in_an_unknown_status_is_masked(self) -> None:
        e = explained(Status="held for priya@example.com", Message=None)
        assert "priya@example.com" not in everything(e)
        assert e.status_raw == "held for p***@e***.com"


class TestDescribeMetrics:
    @pytest.mark.parametrize(
        ("metrics", "reading"),
        [
            (
                QueueMetrics(
                    pending_messages=3, max_delay_seconds=120, processing_rate_per_minute=25.0
                ),
                "3 requests ahead, worst-case delay ~2 min, processing ~25/min",
            ),
            (
                QueueMetrics(
                    pending_messages=0, max_delay_seconds=0, processing_rate_per_minute=24.8
                ),
                "queue is empty, worst-case delay under 1 s, processing ~24.8/min",
            ),
            (QueueMetrics(pending_messages=1), "1 request ahead"),
            (
                QueueMetrics(max_delay_seconds=5400),
                "worst-case delay ~1 h 30 min",
            ),
            (QueueMetrics(), "queue metrics unavailable (LeadSquared sent no usable values)"),
            (
                QueueMetrics(pending_messages=-1, max_delay_seconds=-5),
                "queue metrics unavailable (LeadSquared sent no usable values)",
            ),
        ],
    )
    def test_metrics_read_in_one_line(self, metrics: QueueMetrics, reading: str) -> None:
        assert describe_metrics(metrics) == reading

    @pytest.mark.parametrize(
        ("seconds", "text"),
        [
            (0.2, "under 1 s"),
            (45, "45 s"),
            (90, "2 min"),
            (3600, "1 h"),
            (33_000, "9 h 10 min"),
            (float("nan"), "an unknown time"),
            (-1, "an unknown time"),
        ],
    )
    def test_durations_read_for_people(self, seconds: float, text: str) -> None:
        assert format_duration(seconds) == text


# --- errors ---------------------------------------------------------------------------


def all_error_classes() -> list[type[CaptureStatusError]]:
    found: list[type[CaptureStatusError]] = []
    pending: list[type[CaptureStatusError]] = [CaptureStatusError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == errors.__name__]


class TestExplainError:
    def test_not_found_names_all_three_causes(self) -> None:
        e = explain_error(
            RequestNotFoundError("No request with this id on this host.", http_status=404),
            request_id=REQUEST_ID,
        )
        assert e.status is None
        assert e.error_code == "not_found"
        assert e.request_id == REQUEST_ID
        assert e.headline == "No request with this id was found"
        assert e.what_happened == "No request with this id on this host."
        for cause in ("region", "typo", "expired", "not documented"):
            assert cause in e.why
        assert any("LSQ_REGION or LSQ_ASYNC_BASE_URL" in step for step in e.next_steps)
        assert fact(e, "HTTP status") == "404"

    def test_authentication_tells_an_admin_to_check_key_and_region(self) -> None:
        e = explain_error(AuthenticationError("Key refused.", http_status=401))
        assert e.severity is Severity.ERROR
        assert "LSQ_API_KEY" in e.next_steps[0]
        assert "LSQ_REGION" in e.next_steps[0]
        assert "admin" in e.next_steps[0]
        assert e.is_final

    def test_rate_limited_says_when_to_retry(self) -> None:
        e = explain_error(RateLimitedError("Throttled.", retry_after=4.2))
        assert e.next_steps[0] == "Try again in 5 s."
        assert fact(e, "Retry after") == "5 s"
        assert not e.is_final
        e = explain_error(RateLimitedError("Throttled."))
        assert e.next_steps[0] == "Try again in a few seconds."

    @pytest.mark.parametrize(
        ("error", "headline"),
        [
            (
                ServerError("boom", http_status=503),
                "LeadSquared answered with a server error (HTTP 503)",
            ),
            (UpstreamTimeoutError("slow"), "LeadSquared did not answer in time"),
            (UpstreamConnectionError("reset"), "Could not reach LeadSquared"),
            (CircuitOpenError("open"), "LeadSquared keeps failing; lookups are paused briefly"),
            (DeadlineExceededError("late"), "The lookup ran out of time"),
        ],
    )
    def test_an_unreachable_leadsquared_means_try_again(
        self, error: CaptureStatusError, headline: str
    ) -> None:
        e = explain_error(error, request_id=REQUEST_ID)
        assert e.headline == headline
        assert e.next_steps[0] == "Try again in a minute."
        assert e.next_steps[-1] == f"When reporting it, quote RequestId {REQUEST_ID}."
        assert not e.is_final
        error.retry_after = 90
        assert explain_error(error).next_steps[0] == "Try again in 2 min."

    def test_endpoint_not_found_points_at_the_status_path_setting(self) -> None:
        e = explain_error(EndpointNotFoundError("API could not be found", http_status=404))
        assert "LSQ_STATUS_PATH" in e.next_steps[0]
        assert "/opportunity/capture/status" in e.next_steps[0]
        assert e.is_final

    def test_invalid_request_id_shows_what_an_id_looks_like(self) -> None:
        e = explain_error(InvalidRequestIdError("'hello' is not a LeadSquared RequestId."))
        assert e.headline == "That is not a LeadSquared RequestId"
        assert REQUEST_ID in e.why
        assert e.request_id is None

    @pytest.mark.parametrize(
        ("error", "headline"),
        [
            (MalformedResponseError("empty body"), "LeadSquared's answer could not be read"),
            (
                ConfigurationError("LSQ_API_KEY is missing"),
                "capture-status is not configured correctly",
            ),
            (BadRequestError("400"), "LeadSquared rejected the status request"),
            (TooManyRequestIdsError("too many"), "Too many RequestIds at once"),
            (UpstreamError("odd"), "LeadSquared did not give a usable answer"),
            (CaptureStatusError("odd"), "The lookup failed"),
        ],
    )
    def test_other_errors_have_their_own_headline(
        self, error: CaptureStatusError, headline: str
    ) -> None:
        e = explain_error(error)
        assert e.headline == headline
        assert e.what_happened == error.message
        assert e.error_code == error.code
        assert e.next_steps

    def test_every_error_class_has_its_own_explanation(self) -> None:
        classes = all_error_classes()
        assert len(classes) >= 16
        headlines = {cls: explain_error(cls("message")).headline for cls in classes}
        assert len(set(headlines.values())) == len(classes), headlines

    def test_no_traceback_and_no_pii_leak_from_an_error(self) -> None:
        try:
            try:
                raise ValueError("inner detail")
            except ValueError as inner:
                raise ServerError(
                    "LeadSquared said: lead priya@example.com +91 98765 43212 failed"
                ) from inner
        except ServerError as error:
            dumped = everything(explain_error(error))
        assert "Traceback" not in dumped
        assert "inner detail" not in dumped
        assert "priya@example.com" not in dumped
        assert "98765 43212" not in dumped
        assert "p***@e***.com" in dumped


# --- the catalogue --------------------------------------------------------------------


class TestCatalogue:
    def test_it_holds_the_six_documented_exceptions_none_retried_by_leadsquared(self) -> None:
        assert set(KNOWN_EXCEPTIONS) == {
            "MXInvalidActivityFieldsException",
            "MXMandatoryAttributeMissingException",
            "MXInvalidInputException",
            "MXDuplicateEntryException",
            "MXInvalidEntityException",
            "MXAPIRateLimitExceededException",
        }
        assert not any(k.retryable_by_leadsquared for k in KNOWN_EXCEPTIONS.values())

    @pytest.mark.parametrize(
        ("texts", "found"),
        [
            ((None, "Error: MXInvalidInputException - bad SearchBy"), "MXInvalidInputException"),
            (("LeadSquared.Core.MXDuplicateEntryException",), "MXDuplicateEntryException"),
            (("MXFirstException", "MXSecondException"), "MXFirstException"),
            (("no exception here", None, ""), None),
            (("XMXInvalidInputException",), None),
        ],
    )
    def test_find_exception_picks_the_first_mx_name(
        self, texts: tuple[str | None, ...], found: str | None
    ) -> None:
        assert find_exception(*texts) == found

    def test_describe_exception_ignores_case(self) -> None:
        known = describe_exception(" mxinvalidinputexception ")
        assert known is KNOWN_EXCEPTIONS["MXInvalidInputException"]
        assert describe_exception("MXNopeException") is None

    def test_the_markdown_documents_statuses_outcomes_and_every_exception(self) -> None:
        markdown = catalogue_markdown()
        assert markdown.startswith("# ")
        for status in ("In-Queue", "Success", "FAILURE", "ERROR"):
            assert f"**{status}**" in markdown
        for outcome in ("created", "duplicate", "failed", "unknown"):
            assert f"**{outcome}**" in markdown
        for name, known in KNOWN_EXCEPTIONS.items():
            assert f"### {name}" in markdown
            assert known.fix in markdown
        assert "about 9 h 10 min" in markdown


# --- PII never leaks ------------------------------------------------------------------

names = st.text(string.ascii_lowercase, min_size=4, max_size=10).map(str.capitalize)
PLACEHOLDERS = {"email": "zed@placeholder.test", "phone": "+44 7700 900123", "name": "Qwertyz"}


def pii_scenario(
    status: str, body_readable: bool, redactor: Redactor, *, email: str, phone: str, name: str
) -> Explanation:
    """A status whose body, reason, exception message and raw Message all carry PII."""
    if body_readable:
        body = json.dumps(
            {
                "LeadDetails": [
                    {"Attribute": "EmailAddress", "Value": email},
                    {"Attribute": "FirstName", "Value": name},
                    {"Attribute": "Phone", "Value": phone},
                    {"Attribute": "SearchBy", "Value": "EmailAddress"},
                ],
                "Opportunity": {
                    "OpportunityEventCode": 12000,
                    "OpportunityNote": f"Reach {email} or {phone}",
                    "Fields": [{"SchemaName": "mx_Customer_Name", "Value": name}],
                },
            }
        )
    else:
        body = (
            f'{{"LeadDetails": [{{"Attribute": "FirstName", "Value": "{name}"}}, '
            f'{{"Attribute": "EmailAddress", "Value": "{email}"}}], phone {phone} <cut'
        )
    if status == "Success":
        message: str | None = f"not json: {email} {phone}"
    else:
        message = json.dumps(
            {
                "ExceptionType": "MXDuplicateEntryException",
                "ExceptionMessage": f'Lead {email} ({phone}) exists, "LastName":"{name}"',
            }
        )
    reason = f'"FirstName": "{name}", phone {phone}, email {email} was rejected'
    payload = envelope(Status=status, StatusReason=reason, RequestBody=body, Message=message)
    return explain(parse_status(payload), app_base_url=APP, redactor=redactor)


@settings(max_examples=150)
@given(
    email=st.emails(),
    phone=phone_numbers(),
    name=names,
    status=st.sampled_from(["Success", "FAILURE", "ERROR", "In-Queue", "Held"]),
    body_readable=st.booleans(),
)
def test_pii_never_appears_in_a_masked_explanation(
    email: str, phone: str, name: str, status: str, body_readable: bool
) -> None:
    pii = {"email": email, "phone": phone, "name": name}
    for kind, value in pii.items():
        # The same story with this one value replaced: if the value shows up there, it is
        # ordinary text of the explanation (a word such as "Wait"), not a leak.
        baseline = pii_scenario(
            status, body_readable, Redactor(), **{**pii, kind: PLACEHOLDERS[kind]}
        )
        assume(value not in everything(baseline))
    rendered = everything(pii_scenario(status, body_readable, Redactor(), **pii))
    assert email not in rendered
    assert phone not in rendered
    assert name not in rendered


@settings(max_examples=50)
@given(email=st.emails(), phone=phone_numbers(), name=names, body_readable=st.booleans())
def test_pii_is_shown_only_when_masking_is_off(
    email: str, phone: str, name: str, body_readable: bool
) -> None:
    rendered = everything(
        pii_scenario(
            "FAILURE", body_readable, Redactor(enabled=False), email=email, phone=phone, name=name
        )
    )
    assert email in rendered
    assert phone in rendered
    assert name in rendered


def test_lead_and_field_values_are_never_shown_even_unmasked() -> None:
    body = {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": "priya.raman@example.com"},
            {"Attribute": "FirstName", "Value": "Priyanka"},
        ],
        "Opportunity": {"Fields": [{"SchemaName": "mx_Custom_9", "Value": "Secret Value"}]},
    }
    e = explain(
        parse_status(envelope(RequestBody=json.dumps(body))), redactor=Redactor(enabled=False)
    )
    rendered = everything(e)
    for value in ("priya.raman@example.com", "Priyanka", "Secret Value"):
        assert value not in rendered
    assert "mx_Custom_9" in rendered


def test_guids_and_event_codes_survive_masking_everywhere() -> None:
    reason = f"Opportunity {EXISTING_OPPORTUNITY_ID} of event 12000 on 2024-01-15T10:20:30Z"
    e = explained(Status="FAILURE", StatusReason=reason, Message=None, app=APP)
    assert fact(e, "Status reason") == reason
    assert e.request_id == REQUEST_ID


def test_an_explanation_is_immutable() -> None:
    e = explain(parse_status(SEED_ENVELOPE))
    with pytest.raises(ValidationError):
        e.headline = "changed"  # type: ignore[misc]
