"""The redacted summary of a submitted Capture Opportunities body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.explain.redact import Redactor
from shared.explain.request_summary import RAW_EXCERPT_LIMIT, RequestSummary, summarize_request
from shared.lsq.models import DecodedJson

MASK = Redactor()
NO_MASK = Redactor(enabled=False)

BODY: dict[str, Any] = {
    "LeadDetails": [
        {"Attribute": "EmailAddress", "Value": "priya.raman@example.com"},
        {"Attribute": "FirstName", "Value": "Priya"},
        {"Attribute": "Phone", "Value": "+91 98765 43212"},
        {"Attribute": "SearchBy", "Value": "EmailAddress"},
    ],
    "Opportunity": {
        "OpportunityEventCode": 12000,
        "OpportunityNote": "Call priya.raman@example.com after 6 pm",
        "UpdateEmptyFields": True,
        "OverwriteFields": False,
        "Fields": [
            {"SchemaName": "mx_Custom_1", "Value": "Home loan"},
            {"SchemaName": "mx_Custom_2", "Value": "Priya Raman"},
            {"SchemaName": "Status", "Value": "Open"},
        ],
    },
}


def decoded(body: object) -> DecodedJson:
    """The body as LeadSquared sends it: a JSON-encoded string with CRLFs and tabs."""
    return DecodedJson.from_field(json.dumps(body, indent="\t").replace("\n", "\r\n"))


def test_the_summary_names_what_was_sent_without_values() -> None:
    summary = summarize_request(decoded(BODY), MASK)
    assert summary == RequestSummary(
        readable=True,
        opportunity_event_code=12000,
        opportunity_note="Call p***@e***.com after 6 pm",
        opportunity_field_count=3,
        opportunity_field_names=("mx_Custom_1", "mx_Custom_2", "Status"),
        lead_attribute_count=3,
        lead_attribute_names=("EmailAddress", "FirstName", "Phone"),
        search_by="EmailAddress",
        update_empty_fields=True,
        overwrite_fields=False,
    )


def test_no_lead_or_field_value_appears_even_without_masking() -> None:
    summary = summarize_request(decoded(BODY), NO_MASK)
    assert summary is not None
    dumped = summary.model_dump_json()
    for value in ("Priya", "+91 98765 43212", "Home loan", "Open"):
        assert value not in dumped
    assert summary.opportunity_note == "Call priya.raman@example.com after 6 pm"


def test_keys_are_read_case_insensitively() -> None:
    body = {
        "leaddetails": [{"ATTRIBUTE": "searchby", "VALUE": "Phone"}],
        "OPPORTUNITY": {"opportunityeventcode": "12001", "FIELDS": [{"schemaname": "mx_A"}]},
    }
    summary = summarize_request(decoded(body), MASK)
    assert summary is not None
    assert summary.search_by == "Phone"
    assert summary.opportunity_event_code == 12001
    assert summary.opportunity_field_names == ("mx_A",)
    assert summary.lead_attribute_count == 0


SINGLE_QUOTED = "{'LeadDetails': [{'Attribute': 'FirstName', 'Value': 'Ravi'}]}"
TRUNCATED = '{"LeadDetails": [ {"Attribute": "EmailAddress", "Value": "priya.sharma@exa'


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (SINGLE_QUOTED, "Expecting property name enclosed in double quotes"),
        (TRUNCATED, "Unterminated string"),
        ("[" * 2000 + "]" * 2000, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_json_shows_its_size_and_why_never_an_excerpt(
    raw: str, reason: str
) -> None:
    summary = summarize_request(DecodedJson.from_field(raw), MASK)
    assert summary is not None
    assert not summary.readable
    assert summary.raw_excerpt is None
    assert summary.size == len(raw)
    assert summary.unreadable_reason is not None
    assert reason in summary.unreadable_reason
    line = summary.one_line()
    assert f"{len(raw):,} characters" in line
    assert "not shown" in line
    for secret in ("Ravi", "priya", "exa"):
        assert secret not in line


def test_with_masking_off_an_unreadable_body_keeps_a_short_excerpt() -> None:
    raw = SINGLE_QUOTED + "x" * 1000
    summary = summarize_request(DecodedJson.from_field(raw), NO_MASK)
    assert summary is not None
    assert summary.raw_excerpt is not None
    assert len(summary.raw_excerpt) <= RAW_EXCERPT_LIMIT
    assert summary.raw_excerpt.endswith("…")
    assert "'Value': 'Ravi'" in summary.raw_excerpt


@pytest.mark.parametrize("body", [[BODY], "just a string", 12000, True])
def test_json_that_is_not_an_object_is_reported_unreadable(body: object) -> None:
    summary = summarize_request(DecodedJson.from_field(json.dumps(body)), MASK)
    assert summary is not None
    assert not summary.readable
    assert summary.raw_excerpt is None
    assert summary.unreadable_reason is not None
    assert "not an object" in summary.unreadable_reason
    assert "priya.raman@example.com" not in summary.one_line()


def test_no_body_gives_no_summary() -> None:
    assert summarize_request(DecodedJson.from_field(None), MASK) is None
    assert summarize_request(DecodedJson.from_field("  "), MASK) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"opportunity_field_count": 0, "lead_attribute_count": 0}),
        ({"Opportunity": None, "LeadDetails": "x"}, {"opportunity_event_code": None}),
        ({"Opportunity": [1, 2]}, {"opportunity_field_count": 0}),
        ({"Opportunity": {"OpportunityEventCode": True}}, {"opportunity_event_code": None}),
        ({"Opportunity": {"OpportunityEventCode": 12000.0}}, {"opportunity_event_code": 12000}),
        ({"Opportunity": {"OpportunityEventCode": "abc"}}, {"opportunity_event_code": None}),
        ({"Opportunity": {"OpportunityEventCode": "9" * 5000}}, {"opportunity_event_code": None}),
        ({"Opportunity": {"Fields": [None, 3, {"SchemaName": 5}]}}, {"opportunity_field_count": 3}),
        (
            {"Opportunity": {"Fields": {"mx_A": 1, "mx_B": 2}}},
            {"opportunity_field_names": ("mx_A", "mx_B"), "opportunity_field_count": 2},
        ),
        (
            {"LeadDetails": {"EmailAddress": "a@b.com", "SearchBy": "EmailAddress"}},
            {"lead_attribute_names": ("EmailAddress",), "search_by": "EmailAddress"},
        ),
        ({"LeadDetails": [{"Attribute": "SearchBy", "Value": 7}]}, {"search_by": None}),
        ({"Opportunity": {"OpportunityNote": ["not", "text"]}}, {"opportunity_note": None}),
        ({"Opportunity": {"UpdateEmptyFields": "TRUE"}}, {"update_empty_fields": True}),
    ],
)
def test_odd_shapes_are_tolerated(body: object, expected: dict[str, object]) -> None:
    summary = summarize_request(DecodedJson.from_field(json.dumps(body)), MASK)
    assert summary is not None
    assert summary.readable
    for field, value in expected.items():
        assert getattr(summary, field) == value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["LeadDetails", "Opportunity", "Fields", "Attribute", "Value", "SchemaName"]
            )
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@given(body=json_values)
def test_any_json_body_is_summarised_without_raising(body: object) -> None:
    summary = summarize_request(DecodedJson.from_field(json.dumps(body)), MASK)
    assert summary is None or isinstance(summary, RequestSummary)


@given(raw=st.text())
def test_any_raw_text_is_summarised_without_raising(raw: str) -> None:
    summary = summarize_request(DecodedJson.from_field(raw), MASK)
    if summary is not None and summary.raw_excerpt is not None:
        assert len(summary.raw_excerpt) <= RAW_EXCERPT_LIMIT


def test_one_line_reads_the_summary_in_plain_text() -> None:
    summary = summarize_request(decoded(BODY), MASK)
    assert summary is not None
    assert summary.one_line() == (
        "opportunity type 12000; 3 opportunity fields (mx_Custom_1, mx_Custom_2, Status); "
        '3 lead attributes; lead searched by EmailAddress; note: "Call p***@e***.com after 6 pm"'
    )


def test_one_line_of_an_unreadable_body_gives_its_size_and_reason_only() -> None:
    summary = summarize_request(DecodedJson.from_field("oops priya@example.com"), MASK)
    assert summary is not None
    assert summary.one_line() == (
        "body not readable as a JSON object (22 characters, not valid JSON: Expecting value "
        "(character 1)); not shown, as it could hold lead details that cannot be masked"
    )
