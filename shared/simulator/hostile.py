"""An adversarial corpus: status answers built to be slow, huge, deep or leaky.

Each entry is a ``TaskStatus`` object that a hostile or broken upstream could send. Serve one
with :meth:`~shared.simulator.Simulator.put_answer` (or ``PUT /_sim/answers/<id>``). Every
entry carries the same lead, so a test can check that none of :data:`HOSTILE_PII` reaches
any output, whatever the shape around it:

- runs that made masking quadratic (backslashes, quotes, escaped quotes, repeated
  ``"Attribute":`` pairs, digits);
- sizes: a 2 MB body, a 1 MB note, 100,000 keys;
- depth: bodies nested 600 levels (parses) and 2,000 levels (does not);
- bodies that are not JSON but hold PII: single-quoted, cut short mid-email, ``key=value``;
- control and bidi characters meant for a terminal or a chat client;
- lead details in every field of the envelope, not only the body (the status, the steps, the
  ids of the outcome, object keys, duplicate and list-valued ``Attribute`` names);
- lone UTF-16 surrogates, valid in JSON but not encodable as UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["HOSTILE_ANSWERS", "HOSTILE_PII", "hostile_answers"]

_EMAIL = "priya.sharma@example.com"
_PHONE = "+91 98765 43210"
_FIRST_NAME = "Ravikumar"
_PAN = "ABCDE1234F"
#: lead details carried by every hostile answer: none may be shown while masking is on
HOSTILE_PII = ("priya.sharma", "98765 43210", "9876543210", _FIRST_NAME, _PAN)

_LEAD = [
    {"Attribute": "EmailAddress", "Value": _EMAIL},
    {"Attribute": "FirstName", "Value": _FIRST_NAME},
    {"Attribute": "Phone", "Value": _PHONE},
    {"Attribute": "mx_PAN_Number", "Value": _PAN},
    {"Attribute": "SearchBy", "Value": "EmailAddress"},
]
_MB = 1_000_000


def _body(note: str = "Call back", **extra: Any) -> str:
    body = {
        "LeadDetails": _LEAD,
        "Opportunity": {"OpportunityEventCode": 12000, "OpportunityNote": note, **extra},
    }
    return json.dumps(body)


def _task(
    status: str = "FAILURE",
    *,
    reason: str = "MXDuplicateEntryException",
    body: str | None = None,
    message: object = None,
) -> dict[str, Any]:
    return {
        "TaskType": "OpportunityCapture",
        "Status": status,
        "StatusReason": reason,
        "TaskCurrentStep": "Completed",
        "TaskLastStep": "In-Process-Queue",
        "RequestBody": _body() if body is None else body,
        "Message": message,
    }


def _nested(levels: int) -> str:
    return "[" * levels + json.dumps(_LEAD) + "]" * levels


def _created_message() -> str:
    return json.dumps(
        {
            "CreatedOpportunityId": "1b0f1f8e-4b9e-4a7f-9c61-3c1d2f0e8a11",
            "RelatedProspectId": "6f3c2a10-5d4e-4b8f-a1c2-9e8d7c6b5a40",
            "AdditionalDetails": [{"PostDeDupActionPerformed": 1}],
            "Status": 1,
        }
    )


def hostile_answers() -> dict[str, dict[str, Any]]:
    """A fresh copy of the corpus: name → ``TaskStatus`` object."""
    single_quoted = str({"LeadDetails": _LEAD})  # Python's repr: single quotes, not JSON
    return {
        "backslash_note": _task(
            "Success", reason="", body=_body("\\" * 50_000), message=_created_message()
        ),
        "backslash_reason": _task(reason="\\" * 100_000 + f" {_EMAIL}"),
        "quote_runs": _task(reason='"' * 100_000, body='"' * 100_000),
        "escaped_quote_runs": _task(reason='\\"' * 50_000, body='\\"' * 50_000),
        "repeated_attribute_pairs": _task(
            body='"Attribute":' * 50_000 + f'"FirstName","Value":"{_FIRST_NAME}"'
        ),
        "repeated_attribute_values": _task(
            body=f'"Attribute":"FirstName","Value":"{_FIRST_NAME}",' * 30_000
        ),
        "digit_runs": _task(reason="9" * 100_000 + " " + "98765 43210 " * 10_000),
        "two_mb_body": _task(
            "Success",
            reason="",
            body=_body(
                f"{_EMAIL} " * (_MB // 50),
                Fields=[{"SchemaName": f"mx_Custom_{i}", "Value": _PHONE} for i in range(20_000)],
            ),
            message=_created_message(),
        ),
        "many_keys_message": _task(
            "Success", reason="", message=json.dumps({f"k{i}": _EMAIL for i in range(40_000)})
        ),
        "nested_600": _task(body=_nested(600), message=_nested(600)),
        "nested_2000": _task(body=_nested(2_000), message=_nested(2_000)),
        "single_quoted_body": _task(body=single_quoted),
        "truncated_body": _task(
            body='{"LeadDetails": [ {"Attribute": "EmailAddress", "Value": "priya.sharma@exa'
        ),
        "key_value_text": _task(
            "ERROR",
            reason=f"FirstName={_FIRST_NAME}, mx_PAN_Number: {_PAN}, mail priya.sharma@exa",
            body=f"FirstName={_FIRST_NAME}&Phone={_PHONE.replace(' ', '')}",
        ),
        "pii_in_every_field": {
            "TaskType": f"Opportunity {_EMAIL}",
            "Status": f"Weird {_EMAIL} {_PHONE}",
            "StatusReason": f"FirstName={_FIRST_NAME}",
            "TaskCurrentStep": f"Step {_EMAIL}",
            "TaskLastStep": f"Step {_PHONE}",
            "RequestBody": json.dumps(
                {
                    _EMAIL: {_PHONE: "keys can be lead details too"},
                    "LeadDetails": [
                        {"Attribute": "FirstName", "attribute": "x", "Value": _FIRST_NAME},
                        {"Attribute": ["FirstName"], "Value": _FIRST_NAME},
                    ],
                }
            ),
            "Message": json.dumps(
                {
                    "ExceptionType": f"MX {_EMAIL}",
                    "ExceptionMessage": f"Lead {_PHONE}",
                    "CreatedOpportunityId": _EMAIL,
                    "RelatedProspectId": _PHONE,
                    "RequestId": f"FirstName={_FIRST_NAME}",
                    "Status": f"PAN: {_PAN}",
                    "AdditionalDetails": [{"ActivityId": _EMAIL}],
                }
            ),
        },
        "lone_surrogates": _task(
            reason="bad \ud800 here \udfff",
            body=json.dumps({"LeadDetails": _LEAD, "Note\ud800": "x\udc00y"}),
            message=json.dumps({"ExceptionType": "X\ud800", "ExceptionMessage": "\udbff"}),
        ),
        "terminal_controls": _task(
            reason="ok\x00\x1b[31mred\x1b[0m \u202egnp.exe\u202c \x07\x9b2J done",
            message=json.dumps({"ExceptionType": "X\x1b]0;title\x07", "ExceptionMessage": "\r"}),
        ),
    }


#: the corpus, built once
HOSTILE_ANSWERS = hostile_answers()
