"""RequestIds are found in whatever people paste, and anything else is refused clearly."""

from __future__ import annotations

import pytest

from shared.errors import InvalidRequestIdError
from shared.lsq.ids import extract_request_id, find_request_ids

ID = "c1d867a7-a325-4b68-954f-237dcd3c15e1"
OTHER = "e17bf7d3-e050-4c1e-b4db-4134eb9a9f2b"


@pytest.mark.parametrize(
    "text",
    [
        ID,
        ID.upper(),
        f"  {ID}\n",
        "{" + ID + "}",
        f"https://asyncapi.leadsquared.com/opportunity/status?RequestID={ID}",
        f"2026-11-27 ERROR capture failed request_id={ID} status=FAILURE",
        f"<{ID}>",
    ],
)
def test_one_id_is_found_in_bare_text_urls_and_log_lines(text: str) -> None:
    assert extract_request_id(text) == ID


def test_every_distinct_id_is_found_in_order() -> None:
    text = f"first {OTHER}, then {ID} and {OTHER.upper()} again"
    assert find_request_ids(text) == [OTHER, ID]


@pytest.mark.parametrize(
    "text", ["", "abc", ID[:-1], ID + "0", "c1d867a7a3254b68954f237dcd3c15e1x", "g" + ID[1:]]
)
def test_text_without_a_complete_guid_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(InvalidRequestIdError, match="is a GUID like"):
        extract_request_id(text)


def test_two_different_ids_in_one_argument_are_refused() -> None:
    with pytest.raises(InvalidRequestIdError, match="2 different RequestIds"):
        extract_request_id(f"{ID} {OTHER}")


def test_very_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidRequestIdError) as caught:
        extract_request_id("x" * 5000)
    assert len(caught.value.message) < 400
