"""Seeded sample requests: one per answer shape the Capture Opportunities Status API can give.

Every sample is answered by the status routes from the start, whatever the clock says. The
shapes follow ``docs/leadsquared.md``: where the docs are silent (how a FAILURE carries
its exception, TaskCurrentStep values, casing) the samples deliberately vary, so that the
client and the explanations are tested against every plausible answer, not one guess.

Every account the simulator serves has the same samples: the first account (``"default"``)
under the fixed ids of :data:`SAMPLES`, every other account under ids derived from its name
(:func:`sample_ids_for`), so a test can tell which account answered.

The people, emails and phone numbers are invented.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from shared.simulator.config import DEFAULT_ACCOUNT

__all__ = [
    "SAMPLES",
    "TASK_TYPE",
    "UNKNOWN_REQUEST_ID",
    "Sample",
    "created_message",
    "encode_message",
    "encode_request_body",
    "exception_message",
    "sample_ids_for",
    "samples_for",
]

#: ``TaskStatus.TaskType`` of every request of this API (DOC)
TASK_TYPE = "Opportunity Capture"

#: a well-formed RequestId the simulator never knows: status routes answer it with 404
UNKNOWN_REQUEST_ID = "1a7ccfb5-c42b-4e90-89aa-2469cb6fd03d"

_SUCCESS_REASON = "Request was successfully completed"  # DOC
_LAST_STEP = "In-Process-Queue"  # DOC: the only TaskLastStep value in any example


@dataclass(frozen=True)
class Sample:
    """A seeded request and the answer the status routes give for it.

    Attributes:
        name: a stable name, the key in :data:`SAMPLES`.
        request_id: its fixed RequestId (a lower-case GUID).
        description: one line for people (demo listings, test ids).
        expected_status: the status a tolerant client should read: ``In-Queue``, ``Success``,
            ``FAILURE`` or ``ERROR`` whatever the casing on the wire, else the raw text.
        expected_outcome: what ``Message`` says happened (``created``, ``duplicate`` or
            ``failed``), or ``None`` when ``Message`` holds no capture result.
        exception_type: the MX exception of a FAILURE, wherever the answer carries it.
        envelope: the exact JSON object the status routes answer (never mutate it).
    """

    name: str
    request_id: str
    description: str
    expected_status: str
    expected_outcome: str | None
    exception_type: str | None
    envelope: Mapping[str, Any]


def encode_request_body(body: Mapping[str, Any]) -> str:
    """Encode a capture body the way ``TaskStatus.RequestBody`` shows it.

    The docs show an escaped JSON string with Windows line breaks and indentation inside.
    """
    return json.dumps(body, indent="\t", ensure_ascii=False).replace("\n", "\r\n")


def encode_message(message: Mapping[str, Any]) -> str:
    """Encode a sync capture response the way ``TaskStatus.Message`` shows it (compact JSON)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def exception_message(exception_type: str, text: str, *, sync_request_id: str) -> dict[str, Any]:
    """The sync Capture Opportunities answer for a failure, as found in ``Message``."""
    return {
        "AdditionalDetails": [],
        "ConflictedOpportunityId": None,
        "CreatedOpportunityId": None,
        "ExceptionMessage": text,
        "ExceptionType": exception_type,
        "IsUnique": False,
        "PrimaryAction": 0,
        "RelatedProspectId": None,
        "RequestId": sync_request_id,
        "SecondaryAction": 0,
        "Status": 1,
    }


def _lead(
    first: str, last: str, email: str, phone: str, *, search_by: str = "EmailAddress"
) -> list[dict[str, Any]]:
    return [
        {"Attribute": "FirstName", "Value": first},
        {"Attribute": "LastName", "Value": last},
        {"Attribute": "EmailAddress", "Value": email},
        {"Attribute": "Phone", "Value": phone},
        {"Attribute": "SearchBy", "Value": search_by},
    ]


def _opportunity(
    note: str, fields: list[dict[str, Any]] | None, *, event_code: int | None = 12000
) -> dict[str, Any]:
    opportunity: dict[str, Any] = {}
    if event_code is not None:
        opportunity["OpportunityEventCode"] = event_code
    opportunity["OpportunityNote"] = note
    opportunity["UpdateEmptyFields"] = True
    opportunity["DoNotPostDuplicateActivity"] = True
    opportunity["DoNotChangeOwner"] = True
    if fields is not None:
        opportunity["Fields"] = fields
    return opportunity


def _fields(name: str, stage: str = "Prospecting", *, value: int = 250000) -> list[dict[str, Any]]:
    return [
        {"SchemaName": "mx_Custom_1", "Value": name},
        {"SchemaName": "mx_Custom_2", "Value": stage},
        {"SchemaName": "mx_Custom_7", "Value": str(value)},
        {"SchemaName": "Status", "Value": "Open"},
    ]


def _body(lead: list[dict[str, Any]], opportunity: dict[str, Any]) -> str:
    return encode_request_body({"LeadDetails": lead, "Opportunity": opportunity})


def _envelope(
    request_id: str,
    *,
    status: str,
    reason: str | None,
    current_step: str | None,
    last_step: str | None,
    request_body: str,
    message: str | Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "TaskStatus": {
            "TaskType": TASK_TYPE,
            "Status": status,
            "StatusReason": reason,
            "TaskCurrentStep": current_step,
            "TaskLastStep": last_step,
            "RequestBody": request_body,
            "Message": message,
        },
    }


def created_message(
    *, activity_id: str, opportunity_id: str, prospect_id: str, sync_request_id: str
) -> dict[str, Any]:
    # key order and values as in the docs' example
    return {
        "AdditionalDetails": [{"ActivityId": activity_id, "PostDeDupActionPerformed": 1}],
        "ConflictedOpportunityId": None,
        "CreatedOpportunityId": opportunity_id,
        "ExceptionMessage": None,
        "ExceptionType": None,
        "IsUnique": True,
        "PrimaryAction": 1,
        "RelatedProspectId": prospect_id,
        "RequestId": sync_request_id,
        "SecondaryAction": 2,
        "Status": 0,
    }


def _failure(
    name: str,
    request_id: str,
    *,
    description: str,
    exception_type: str,
    text: str,
    request_body: str,
    in_message: bool,
    status: str = "FAILURE",
) -> Sample:
    """A FAILURE sample. How a FAILURE carries its exception is a GAP, so samples vary.

    ``in_message``: the exception is in ``Message`` (the sync API's failure answer) and
    ``StatusReason`` holds its text; otherwise only ``StatusReason`` carries it, prefixed
    with the exception type.
    """
    if in_message:
        reason = text
        message: str | None = encode_message(
            exception_message(exception_type, text, sync_request_id=_SYNC_IDS[name])
        )
    else:
        reason = f"{exception_type}: {text}"
        message = None
    return Sample(
        name=name,
        request_id=request_id,
        description=description,
        expected_status="FAILURE",
        expected_outcome="failed" if in_message else None,
        exception_type=exception_type,
        envelope=_envelope(
            request_id,
            status=status,
            reason=reason,
            current_step=None,
            last_step=_LAST_STEP,
            request_body=request_body,
            message=message,
        ),
    )


# internal ids of the sync calls (``Message.RequestId``), fixed so answers never change
_SYNC_IDS = {
    "failure_invalid_activity_fields": "20089392-c1ee-49f1-90ee-6f19700717a6",
    "failure_invalid_input": "0b7887bf-0803-452d-988f-3645212b3ccf",
    "failure_invalid_entity": "eaf5dd5f-a990-4651-891f-da1e246de595",
    "failure_unknown_exception": "e8d7dd6a-5946-4352-9ed9-8daeb8cbea7d",
    "request_body_not_json": "10893d9c-079a-4556-b283-dd176d0b59ef",
}


def _build_samples() -> list[Sample]:
    samples: list[Sample] = []

    request_id = "bed6195c-e5a7-41b6-805a-c0aebbfd06be"
    samples.append(
        Sample(
            name="created",
            request_id=request_id,
            description="Success: a new opportunity was created (the docs' example shape)",
            expected_status="Success",
            expected_outcome="created",
            exception_type=None,
            envelope=_envelope(
                request_id,
                status="Success",
                reason=_SUCCESS_REASON,
                current_step=None,
                last_step=_LAST_STEP,
                request_body=_body(
                    _lead("Priya", "Sharma", "priya.sharma@example.com", "+91-9876543210"),
                    _opportunity(
                        "Captured from the website enquiry form",
                        _fields("Solar rooftop 5 kW - Sharma"),
                    ),
                ),
                message=encode_message(
                    created_message(
                        activity_id="ec2b45cc-2f4e-4d8c-9a57-1b3e5d7f9a01",
                        opportunity_id="0722f894-8c1a-4e6b-b2d3-5f7a9c1e3b42",
                        prospect_id="e7b8c25f-6d4a-4b3c-8e2f-1a9b7c5d3e60",
                        sync_request_id="c49a045b-3e7d-4f1a-9b8c-2d6e4f0a1b73",
                    )
                ),
            ),
        )
    )

    request_id = "01b8d4ba-0cb8-4f36-acce-06fdde99ece8"
    samples.append(
        Sample(
            name="created_message_object",
            request_id=request_id,
            description="Success: created, Message as an object and keys in other casings",
            expected_status="Success",
            expected_outcome="created",
            exception_type=None,
            # sibling pages spell RequestID and show Message as an object: vary both
            envelope={
                "RequestID": request_id,
                "TaskStatus": {
                    "taskType": TASK_TYPE,
                    "status": "Success",
                    "statusReason": _SUCCESS_REASON,
                    "taskCurrentStep": None,
                    "TasklastStep": _LAST_STEP,
                    "requestBody": _body(
                        _lead("Daniel", "Okafor", "daniel.okafor@example.org", "+44 20 7946 0958"),
                        _opportunity("Walk-in at the Pune showroom", _fields("Home loan - Okafor")),
                    ),
                    "message": {
                        "additionalDetails": [
                            {
                                "activityID": "6aff4e7d-4ade-4082-b7bc-8c47b2118eea",
                                "PostDedupActionPerformed": 1,
                            }
                        ],
                        "conflictedOpportunityID": None,
                        "createdOpportunityID": "998dbb49-1744-4d39-b5e9-348928d6f142",
                        "exceptionMessage": None,
                        "exceptionType": None,
                        "isUnique": "true",
                        "primaryAction": 1,
                        "relatedProspectID": "395ae2b1-9b68-4f30-8d16-0a62076795f7",
                        "requestID": "8f4f0395-4cfc-491b-9c38-12d7cd4ea6f2",
                        "secondaryAction": 2,
                        "status": "0",
                    },
                },
            },
        )
    )

    request_id = "e17bf7d3-e050-4c1e-b4db-4134eb9a9f2b"
    samples.append(
        Sample(
            name="duplicate",
            request_id=request_id,
            description="Success: duplicate detected (PostDeDupActionPerformed 3), none created",
            expected_status="Success",
            expected_outcome="duplicate",
            exception_type=None,
            envelope=_envelope(
                request_id,
                status="Success",
                reason=_SUCCESS_REASON,
                current_step=None,
                last_step=_LAST_STEP,
                request_body=_body(
                    _lead("Priya", "Sharma", "priya.sharma@example.com", "+91-9876543210"),
                    _opportunity(
                        "Second enquiry from the same lead",
                        _fields("Solar rooftop 5 kW - Sharma"),
                    ),
                ),
                message=encode_message(
                    {
                        "AdditionalDetails": [
                            {
                                "ActivityId": "937daba3-6d8d-4243-a068-b8010bb30859",
                                "PostDeDupActionPerformed": 3,
                            }
                        ],
                        "ConflictedOpportunityId": "0722f894-8c1a-4e6b-b2d3-5f7a9c1e3b42",
                        "CreatedOpportunityId": None,
                        "ExceptionMessage": None,
                        "ExceptionType": None,
                        # 3P: IsUnique stays true for real duplicates when no rules are set
                        "IsUnique": True,
                        "PrimaryAction": 1,
                        "RelatedProspectId": "e7b8c25f-6d4a-4b3c-8e2f-1a9b7c5d3e60",
                        "RequestId": "ca72197f-589d-4ff1-b212-70bd16fe06d4",
                        "SecondaryAction": 3,
                        "Status": 0,
                    }
                ),
            ),
        )
    )

    samples.append(
        _failure(
            "failure_invalid_activity_fields",
            "7364b825-f92c-4c97-a8a5-ec810dc895ec",
            description="FAILURE: mandatory opportunity field missing (exception in Message)",
            exception_type="MXInvalidActivityFieldsException",
            text="Field name : 'mx_Custom_19' of datatype : 'String' is mandatory.",  # DOC
            request_body=_body(
                _lead("Arjun", "Mehta", "arjun.mehta@example.in", "+91-9123456780"),
                _opportunity("Car insurance renewal", _fields("Motor policy - Mehta")),
            ),
            in_message=True,
        )
    )
    samples.append(
        _failure(
            "failure_mandatory_attribute_missing",
            "9358038a-5ae8-47ed-9bd7-3371b6596d25",
            description="FAILURE: OpportunityEventCode missing (exception in StatusReason only)",
            exception_type="MXMandatoryAttributeMissingException",
            text="OpportunityEventCode is a mandatory attribute.",
            request_body=_body(
                _lead("Sofia", "Rossi", "sofia.rossi@example.com", "+39 06 6982 1234"),
                _opportunity("Demo request", _fields("CRM seats - Rossi"), event_code=None),
            ),
            in_message=False,
        )
    )
    samples.append(
        _failure(
            "failure_invalid_input",
            "cb196960-5759-4f8e-93f7-07f23a46a301",
            description="FAILURE: invalid input, OverwriteFields and UpdateEmptyFields both set",
            exception_type="MXInvalidInputException",
            text="OverwriteFields and UpdateEmptyFields cannot both be true.",
            request_body=_body(
                _lead("Wei", "Chen", "wei.chen@example.com", "+65 6123 4567"),
                {
                    **_opportunity("Upsell to premium plan", _fields("Premium plan - Chen")),
                    "OverwriteFields": True,
                },
            ),
            in_message=True,
        )
    )
    samples.append(
        _failure(
            "failure_duplicate_entry",
            "8beb09e3-e0d0-4599-b2c5-930074a61993",
            description="FAILURE: a unique lead field collides with another lead (StatusReason)",
            exception_type="MXDuplicateEntryException",
            text="A Lead with same Phone Number already exists.",
            request_body=_body(
                _lead(
                    "Ananya", "Iyer", "ananya.iyer@example.com", "+91-9988776655", search_by="Phone"
                ),
                _opportunity("Education loan enquiry", _fields("Education loan - Iyer")),
            ),
            in_message=False,
        )
    )
    samples.append(
        _failure(
            "failure_invalid_entity",
            "3e8c4633-de15-4433-b5a2-c211247e2f79",
            description="FAILURE: the referenced lead does not exist (exception in Message)",
            exception_type="MXInvalidEntityException",
            text="Lead does not exist for the given ProspectID.",
            request_body=_body(
                [
                    {"Attribute": "ProspectID", "Value": "0d678f09-e355-4178-b44c-cc8eb65e20d3"},
                    {"Attribute": "EmailAddress", "Value": "tomas.novak@example.net"},
                    {"Attribute": "Phone", "Value": "+420 601 234 567"},
                    {"Attribute": "SearchBy", "Value": "ProspectID"},
                ],
                _opportunity("Follow-up visit", _fields("Site survey - Novak")),
            ),
            in_message=True,
        )
    )
    samples.append(
        _failure(
            "failure_rate_limit_exceeded",
            "fa8d853c-4d09-48a3-a578-99f29c2772af",
            description="FAILURE: throttled while processing (StatusReason only)",
            exception_type="MXAPIRateLimitExceededException",
            text="API calls exceeded the limit of 25 in 5 second(s)",
            request_body=_body(
                _lead("Lucas", "Silva", "lucas.silva@example.com.br", "+55 11 91234 5678"),
                _opportunity("Bulk import row 1842", _fields("Fleet lease - Silva")),
            ),
            in_message=False,
        )
    )
    samples.append(
        _failure(
            "failure_unknown_exception",
            "92f3ceb8-cad0-4af6-8829-89965020d8da",
            description="FAILURE: an exception type no list knows yet (exception in Message)",
            exception_type="MXSomethingNewException",
            text="The opportunity type with event code 12000 is archived.",
            request_body=_body(
                _lead("Fatima", "Zahra", "fatima.zahra@example.ma", "+212 6 12 34 56 78"),
                _opportunity("Trade fair lead", _fields("Export credit - Zahra")),
            ),
            in_message=True,
        )
    )

    request_id = "b45a3f48-ca05-45c1-a11b-4bf7bde46077"
    samples.append(
        Sample(
            name="error",
            request_id=request_id,
            description="ERROR: system error, LeadSquared may still retry it",
            expected_status="ERROR",
            expected_outcome=None,
            exception_type=None,
            envelope=_envelope(
                request_id,
                status="ERROR",
                reason="Unable to Connect to DB",  # DOC: the async page's system-error example
                current_step="Retry-Queue",  # GAP: no step values are published
                last_step=_LAST_STEP,
                request_body=_body(
                    _lead("Hiroshi", "Tanaka", "hiroshi.tanaka@example.jp", "+81 3-1234-5678"),
                    _opportunity("Webinar attendee", _fields("Analytics add-on - Tanaka")),
                ),
                message=None,
            ),
        )
    )

    request_id = "eb58c581-b183-4e2f-af46-2c1bd5dbf6c2"
    samples.append(
        Sample(
            name="in_queue",
            request_id=request_id,
            description="In-Queue: waiting to be processed (stays queued forever)",
            expected_status="In-Queue",
            expected_outcome=None,
            exception_type=None,
            envelope=_envelope(
                request_id,
                status="In-Queue",
                reason=None,
                current_step="In-Process-Queue",
                last_step=None,
                request_body=_body(
                    _lead("Grace", "Mwangi", "grace.mwangi@example.co.ke", "+254 712 345678"),
                    _opportunity("Callback requested", _fields("Micro-SME loan - Mwangi")),
                ),
                message=None,
            ),
        )
    )

    request_id = "471359a1-f328-41d3-8378-94913cd8b997"
    samples.append(
        Sample(
            name="unknown_status",
            request_id=request_id,
            description="Paused: a status no documentation mentions",
            expected_status="Paused",
            expected_outcome=None,
            exception_type=None,
            envelope=_envelope(
                request_id,
                status="Paused",
                reason="Processing of this queue is paused",
                current_step="In-Process-Queue",
                last_step=None,
                request_body=_body(
                    _lead("Olivia", "Brown", "olivia.brown@example.com", "+1 415 555 0134"),
                    _opportunity("Partner referral", _fields("Enterprise plan - Brown")),
                ),
                message=None,
            ),
        )
    )

    request_id = "15e98660-e541-4a72-8230-93da0b9e85c2"
    # a client bug seen in practice: the body was sent as a Python repr, not JSON
    not_json = (
        "{'LeadDetails': [{'Attribute': 'FirstName', 'Value': 'Ravi'}, "
        "{'Attribute': 'EmailAddress', 'Value': 'ravi.kumar@example.in'}, "
        "{'Attribute': 'Phone', 'Value': '+91-9812345678'}], "
        "'Opportunity': {'OpportunityEventCode': 12000, 'OpportunityNote': 'Test drive'}}"
    )
    samples.append(
        Sample(
            name="request_body_not_json",
            request_id=request_id,
            description="FAILURE: the RequestBody is not JSON (raw text with PII is kept)",
            expected_status="FAILURE",
            expected_outcome="failed",
            exception_type="MXInvalidInputException",
            envelope=_envelope(
                request_id,
                status="FAILURE",
                reason="Request body is not a valid JSON.",
                current_step=None,
                last_step=_LAST_STEP,
                request_body=not_json,
                message=encode_message(
                    exception_message(
                        "MXInvalidInputException",
                        "Request body is not a valid JSON.",
                        sync_request_id=_SYNC_IDS["request_body_not_json"],
                    )
                ),
            ),
        )
    )

    request_id = "f87d825a-73d0-4517-aa31-d29b082b8eff"
    samples.append(
        Sample(
            name="success_lowercase",
            request_id=request_id,
            description="Success spelt 'success': created",
            expected_status="Success",
            expected_outcome="created",
            exception_type=None,
            envelope=_envelope(
                request_id,
                status="success",
                reason=_SUCCESS_REASON,
                current_step=None,
                last_step=_LAST_STEP,
                request_body=_body(
                    _lead("Emma", "Schmidt", "emma.schmidt@example.de", "+49 30 1234567"),
                    _opportunity("Newsletter sign-up", _fields("Starter plan - Schmidt")),
                ),
                message=encode_message(
                    created_message(
                        activity_id="03b6e93f-d533-41cf-a95c-156477c76b83",
                        opportunity_id="62476c19-99c9-4d1d-ba0e-ec2b49e4662c",
                        prospect_id="6225014e-c7c5-4f0b-b75f-82dda1638dc6",
                        sync_request_id="6e0dce68-0388-4353-a060-b473cb2e999d",
                    )
                ),
            ),
        )
    )
    samples.append(
        _failure(
            "failure_titlecase",
            "2da2c219-d39e-49eb-8f96-e8d2bf1bd8e0",
            description="FAILURE spelt 'Failure': mandatory field missing (StatusReason only)",
            exception_type="MXInvalidActivityFieldsException",
            text="Field name : 'mx_Custom_4' of datatype : 'Date' is mandatory.",
            request_body=_body(
                _lead("Noah", "Williams", "noah.williams@example.com.au", "+61 2 9374 4000"),
                _opportunity("Showroom visit booked", _fields("SUV purchase - Williams")),
            ),
            in_message=False,
            status="Failure",
        )
    )

    request_id = "37f21fad-d068-4110-b2cc-457831fbec29"
    samples.append(
        Sample(
            name="in_queue_lowercase",
            request_id=request_id,
            description="In-Queue spelt 'in-queue' (stays queued forever)",
            expected_status="In-Queue",
            expected_outcome=None,
            exception_type=None,
            envelope=_envelope(
                request_id,
                status="in-queue",
                reason=None,
                current_step="In-Process-Queue",
                last_step=None,
                request_body=_body(
                    _lead("Aisha", "Bello", "aisha.bello@example.ng", "+234 803 123 4567"),
                    _opportunity("Missed call follow-up", _fields("Health cover - Bello")),
                ),
                message=None,
            ),
        )
    )
    return samples


#: every seeded sample by name (read-only)
SAMPLES: Mapping[str, Sample] = MappingProxyType({s.name: s for s in _build_samples()})


#: the uuid5 namespace of the sample ids of accounts other than the first (fixed forever)
_ACCOUNT_SAMPLES_NAMESPACE = uuid.UUID("54e74e32-3514-42a4-a0be-51cd3149234a")


def _with_request_id(envelope: Mapping[str, Any], request_id: str) -> dict[str, Any]:
    moved = copy.deepcopy(dict(envelope))
    for key in moved:
        if key.lower() == "requestid":  # the samples vary the casing: keep each one's
            moved[key] = request_id
    return moved


@functools.lru_cache(maxsize=64)
def samples_for(account: str) -> Mapping[str, Sample]:
    """The seeded samples of ``account`` by name (read-only).

    The first account (``"default"``) has :data:`SAMPLES` itself. Any other account has the
    same samples (same stories, bodies and outcomes) under its own RequestIds: uuid5 of the
    account name and the sample's default id, so they are the same in every run.
    """
    if account == DEFAULT_ACCOUNT:
        return SAMPLES
    moved: dict[str, Sample] = {}
    for name, sample in SAMPLES.items():
        request_id = str(uuid.uuid5(_ACCOUNT_SAMPLES_NAMESPACE, f"{account}/{sample.request_id}"))
        moved[name] = dataclasses.replace(
            sample,
            request_id=request_id,
            envelope=_with_request_id(sample.envelope, request_id),
        )
    return MappingProxyType(moved)


def sample_ids_for(account: str) -> dict[str, str]:
    """The RequestId of each seeded sample of ``account``, by sample name.

    ``sample_ids_for("default")`` gives the ids of :data:`SAMPLES`; any other name gives
    ids of its own (see :func:`samples_for`), whether or not a simulator serves it.
    """
    return {name: sample.request_id for name, sample in samples_for(account).items()}
