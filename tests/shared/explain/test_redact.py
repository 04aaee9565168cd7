"""PII masking: emails, phones and PII-keyed values go; ids, dates and codes stay readable."""

from __future__ import annotations

import copy
import json
import string
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.explain.redact import (
    DEFAULT_REDACTOR,
    Redactor,
    is_pii_key,
    mask_json,
    mask_pii_value,
    mask_text,
    truncate,
)

GUID = "c1d867a7-a325-4b68-954f-237dcd3c15e1"
DIGIT_GUID = "12345678-1234-1234-1234-123456789012"


def phone_numbers() -> st.SearchStrategy[str]:
    """Phone numbers as people write them: international, local, grouped or not."""

    def render(country: int, national: str, style: int) -> str:
        return (
            f"+{country} {national}",
            f"+{country}-{national[:5]}-{national[5:]}",
            f"+{country} {national[:5]} {national[5:]}",
            f"({national[:3]}) {national[3:6]}-{national[6:]}",
            national,
            f"+{country}{national}",
            f"{national[:3]}.{national[3:6]}.{national[6:]}",
        )[style]

    return st.builds(
        render,
        st.integers(min_value=1, max_value=999),
        st.text("0123456789", min_size=10, max_size=10).filter(lambda n: n[0] != "0"),
        st.integers(min_value=0, max_value=6),
    )


class TestMaskText:
    def test_an_email_keeps_its_first_character_and_top_level_domain(self) -> None:
        assert mask_text("Contact john.smith@example.com today") == "Contact j***@e***.com today"

    @pytest.mark.parametrize(
        ("phone", "masked"),
        [
            ("+91 98765 43212", "+91 ******12"),
            ("+91-98765-43212", "+91 ******12"),
            ("+919876543212", "******12"),
            ("9876543212", "******12"),
            ("(987) 654-3212", "******12"),
            ("987.654.3212", "******12"),
            ("+1 555 010 9934", "+1 ******34"),
        ],
    )
    def test_a_phone_number_keeps_only_its_last_two_digits(self, phone: str, masked: str) -> None:
        assert mask_text(f"call {phone} now") == f"call {masked} now"

    @pytest.mark.parametrize(
        "key", ["FirstName", "LastName", "Name", "FullName", "mx_Customer_Name", "mx_Father_Name"]
    )
    def test_values_of_name_like_json_keys_in_raw_text_are_masked(self, key: str) -> None:
        assert mask_text(f'{{"{key}": "John", "x": 1}}') == f'{{"{key}": "J***", "x": 1}}'

    def test_leadsquared_attribute_value_pairs_in_raw_text_are_masked_by_attribute_name(
        self,
    ) -> None:
        raw = (
            '[{"Attribute":"FirstName","Value":"John"},'
            '{"Attribute": "EmailAddress", "Value": "john@example.com"},'
            '{"Attribute":"SearchBy","Value":"EmailAddress"}]'
        )
        assert mask_text(raw) == (
            '[{"Attribute":"FirstName","Value":"J***"},'
            '{"Attribute": "EmailAddress", "Value": "j***@e***.com"},'
            '{"Attribute":"SearchBy","Value":"EmailAddress"}]'
        )

    def test_pairs_with_the_value_first_or_a_schema_name_are_masked_too(self) -> None:
        assert (
            mask_text('{"Value": "Smith", "Attribute": "LastName"}')
            == '{"Value": "S***", "Attribute": "LastName"}'
        )
        assert (
            mask_text('{"SchemaName":"mx_Customer_Name","Value":"Priya Raman"}')
            == '{"SchemaName":"mx_Customer_Name","Value":"P***"}'
        )

    def test_pairs_inside_an_escaped_json_string_are_masked(self) -> None:
        raw = r"{\"Attribute\":\"FirstName\",\r\n \"Value\":\"Jos\u00e9 Smith\"}"
        assert mask_text(raw) == r"{\"Attribute\":\"FirstName\",\r\n \"Value\":\"J***\"}"

    def test_field_names_and_the_searched_key_name_are_not_masked(self) -> None:
        raw = '{"SchemaName": "mx_Custom_1", "SearchBy": "EmailAddress", "TaskType": "Lead"}'
        assert mask_text(raw) == raw

    @pytest.mark.parametrize(
        "text",
        [
            f"RequestId {GUID} failed",
            f"id={DIGIT_GUID}",
            f"{{{GUID.upper()}}}",
            "at 2024-01-15T10:20:30.123+05:30 and 2024-01-15 10:20:30",
            "on 15/01/2024 or 2024/01/15 or 15-01-2024",
            "OpportunityEventCode 12000",
            "rate 24.8 per minute, 3 pending, pi 3.14159265",
            "Field name : 'mx_Custom_19' of datatype : 'String' is mandatory.",
            "/Date(1700000000000+0530)/",
        ],
    )
    def test_ids_dates_and_small_numbers_stay_readable(self, text: str) -> None:
        assert mask_text(text) == text

    def test_a_phone_next_to_a_guid_is_masked_and_the_guid_kept(self) -> None:
        assert mask_text(f"9876543212 {DIGIT_GUID}") == f"******12 {DIGIT_GUID}"

    def test_masking_twice_changes_nothing_more(self) -> None:
        once = mask_text('john@example.com +91 98765 43212 {"FirstName": "John"}')
        assert mask_text(once) == once

    @given(email=st.emails())
    def test_no_email_survives_in_free_text(self, email: str) -> None:
        assert email not in mask_text(f"Lead {email} already exists")

    @given(phone=phone_numbers())
    def test_no_phone_number_survives_in_free_text(self, phone: str) -> None:
        masked = mask_text(f"Phone: {phone}.")
        assert phone not in masked
        assert "".join(ch for ch in phone if ch.isdigit())[-10:] not in masked

    @given(
        guid=st.uuids().map(str),
        before=st.text(string.printable.replace('"', ""), max_size=40),
        after=st.text(string.printable.replace('"', ""), max_size=40),
    )
    def test_guids_survive_any_surrounding_text(self, guid: str, before: str, after: str) -> None:
        assert guid in mask_text(f"{before} {guid} {after}")

    @pytest.mark.parametrize(
        "hostile",
        [
            "1" * 200_000,
            "1-" * 100_000,
            "a" * 200_000,
            "a." * 100_000,
            '"FirstName":"' + "x" * 200_000,
            "+1 (2) " * 30_000,
            "MX" * 100_000,
            # runs that made the quoted-key patterns quadratic (~26 s for 100,000 backslashes)
            "\\" * 100_000,
            '"' * 100_000,
            "'" * 100_000,
            '\\"' * 50_000,
            '"Attribute":' * 50_000,
            '"Attribute":"FirstName","Value":"' * 10_000,
            '"Value":"x' * 20_000,
            "a@" * 100_000,
            ("a" * 63 + "@") * 3_000,
            "FirstName=" * 20_000,
            "Name: Ravi Kumar " * 10_000,
        ],
    )
    def test_hostile_long_text_is_masked_in_linear_time(self, hostile: str) -> None:
        started = time.perf_counter()
        mask_text(hostile)
        assert time.perf_counter() - started < 5

    @given(
        parts=st.lists(
            st.sampled_from(
                [
                    "\\",
                    '"',
                    "'",
                    '\\"',
                    ":",
                    ",",
                    "=",
                    " ",
                    "@",
                    "Attribute",
                    "Value",
                    "FirstName",
                    "9",
                    "x",
                ]
            ),
            max_size=60,
        ),
        quote=st.sampled_from(['"', "'", '\\"']),
    )
    def test_a_pii_pair_is_masked_whatever_hostile_text_surrounds_it(
        self, parts: list[str], quote: str
    ) -> None:
        q = quote
        pair = f"{q}Attribute{q}: {q}FirstName{q}, {q}Value{q}: {q}Ravikumar{q}"
        noise = "".join(parts)
        masked = mask_text(f"{noise} {{{pair}}} {noise}")
        assert "Ravikumar" not in masked

    @pytest.mark.parametrize(
        ("text", "hidden"),
        [
            ('{"Attribute": "EmailAddress", "Value": "priya.sharma@exa', "priya.sharma"),
            ("mail priya.sharma@exa", "priya.sharma"),
            ("priya.sharma@", "priya.sharma"),
            ("{'Attribute': 'FirstName', 'Value': 'Ravi'}", "Ravi"),
            ("{'FirstName': 'Ravi'}", "Ravi"),
            ("FirstName=Ravi&LastName=Kumar", "Ravi"),
            ("FirstName=Ravi&LastName=Kumar", "Kumar"),
            ("First name: Ravi Kumar, city Pune", "Ravi Kumar"),
            ("mx_PAN_Number: ABCDE1234F", "ABCDE1234F"),
            ("PAN=ABCDE1234F", "ABCDE1234F"),
        ],
    )
    def test_partial_emails_single_quotes_and_key_value_pairs_are_masked(
        self, text: str, hidden: str
    ) -> None:
        assert hidden not in mask_text(text)

    @pytest.mark.parametrize(
        "text",
        [
            "Field name : 'mx_Custom_19' of datatype : 'String' is mandatory.",
            "Status: Failed; Step: In-Process-Queue",
            "SchemaName=mx_Custom_1",
        ],
    )
    def test_field_names_and_steps_in_key_value_text_stay_readable(self, text: str) -> None:
        assert mask_text(text) == text


class TestMaskJson:
    @pytest.mark.parametrize(
        "body",
        [
            {"priya.sharma@example.com": {"+91 98765 43210": 1}},
            {"Attribute": "FirstName", "attribute": "Notes", "Value": "Ravikumar"},
            {"attribute": "Notes", "Attribute": "FirstName", "Value": "Ravikumar"},
            {"Attribute": ["FirstName"], "Value": "Ravikumar"},
            {"SchemaName": {"name": "mx_Customer_Name"}, "Value": "Ravikumar"},
        ],
    )
    def test_keys_and_oddly_named_pairs_cannot_smuggle_pii(self, body: dict[str, Any]) -> None:
        shown = json.dumps(mask_json(body))
        for detail in ("priya.sharma", "98765", "Ravikumar"):
            assert detail not in shown

    def test_values_under_pii_keys_attribute_pairs_and_schema_pairs_are_masked(self) -> None:
        body: dict[str, Any] = {
            "LeadDetails": [
                {"Attribute": "EmailAddress", "Value": "john@example.com"},
                {"attribute": "FirstName", "value": "John"},
                {"Attribute": "SearchBy", "Value": "EmailAddress"},
            ],
            "Opportunity": {
                "OpportunityEventCode": 12000,
                "OpportunityNote": "Call +91 98765 43212",
                "Fields": [
                    {"SchemaName": "mx_Customer_Name", "Value": "John Smith"},
                    {"SchemaName": "mx_Custom_1", "Value": "Home loan"},
                ],
            },
            "Mobile": 9876543212,
            "Address": {"Street": "12 Baker Street", "Zip": "560001"},
        }
        assert mask_json(body) == {
            "LeadDetails": [
                {"Attribute": "EmailAddress", "Value": "j***@e***.com"},
                {"attribute": "FirstName", "value": "J***"},
                {"Attribute": "SearchBy", "Value": "EmailAddress"},
            ],
            "Opportunity": {
                "OpportunityEventCode": 12000,
                "OpportunityNote": "Call +91 ******12",
                "Fields": [
                    {"SchemaName": "mx_Customer_Name", "Value": "J***"},
                    {"SchemaName": "mx_Custom_1", "Value": "Home loan"},
                ],
            },
            "Mobile": "******12",
            "Address": {"Street": "1***", "Zip": "5***"},
        }

    def test_the_input_is_left_untouched(self) -> None:
        body = {"EmailAddress": "john@example.com", "nested": [{"Phone": "9876543212"}]}
        before = copy.deepcopy(body)
        mask_json(body)
        assert body == before

    def test_non_pii_scalars_keep_their_types_and_values(self) -> None:
        value = {"RequestId": GUID, "Count": 3, "Ok": True, "Nothing": None, "Rate": 24.8}
        assert mask_json(value) == value

    @pytest.mark.parametrize(
        ("key", "pii"),
        [
            ("EmailAddress", True),
            ("mx_Alternate_Email", True),
            ("Phone", True),
            ("Mobile", True),
            ("FirstName", True),
            ("last_name", True),
            ("Name", True),
            ("mx_Father_Name", True),
            ("AddressLine1", True),
            ("DateOfBirth", True),
            ("SchemaName", False),
            ("SearchBy", False),
            ("RelatedProspectId", False),
            ("OpportunityEventCode", False),
            ("mx_Custom_1", False),
            ("Company", False),
            ("FileName", False),
        ],
    )
    def test_pii_keys_are_recognised_by_name(self, key: str, pii: bool) -> None:
        assert is_pii_key(key) is pii

    def test_a_pii_value_keeps_only_a_hint(self) -> None:
        assert mask_pii_value("John Smith") == "J***"
        assert mask_pii_value("john@example.com") == "j***@e***.com"
        assert mask_pii_value("+91 98765 43212") == "+91 ******12"
        assert mask_pii_value("  ") == "  "


class TestRedactor:
    def test_the_default_redactor_masks(self) -> None:
        assert DEFAULT_REDACTOR.enabled
        assert Redactor().text("john@example.com") == "j***@e***.com"

    def test_a_disabled_redactor_shows_text_as_is_and_copies_json(self) -> None:
        redactor = Redactor(enabled=False)
        body = {"EmailAddress": "john@example.com"}
        copied = redactor.json(body)
        assert redactor.text("john@example.com") == "john@example.com"
        assert copied == body
        assert copied is not body

    def test_the_redactor_is_immutable(self) -> None:
        redactor = Redactor()
        with pytest.raises(AttributeError):
            redactor.enabled = False  # type: ignore[misc]

    def test_masked_json_is_still_serialisable(self) -> None:
        json.dumps(Redactor().json({"Phone": 9876543212, "list": [1.5, None]}))


class TestTruncate:
    def test_long_text_is_cut_with_an_ellipsis(self) -> None:
        cut = truncate("x" * 600, 500)
        assert len(cut) == 500
        assert cut.endswith("…")

    def test_short_text_is_kept(self) -> None:
        assert truncate("short", 500) == "short"

    def test_a_limit_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            truncate("x", 0)
