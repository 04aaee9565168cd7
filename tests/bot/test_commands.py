"""Parsing what people type and paste, and reading button values back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.actions import COMMAND_PATTERN, CardTarget
from bot.commands import Help, Lookup, Metrics, message_texts, parse_command
from shared.errors import InvalidRequestIdError, TooManyRequestIdsError
from shared.lsq.client import CaptureStatusClient
from shared.service.capture_service import CaptureService
from shared.simulator import SAMPLES
from tests.conftest import fast_options

A = SAMPLES["created"].request_id
B = SAMPLES["duplicate"].request_id
C = SAMPLES["in_queue"].request_id


@pytest.mark.parametrize("text", [None, "", "  ", "help", "Help", "-h", "--help", "?", "usage"])
def test_help_words_and_nothing_ask_for_help(text: str | None) -> None:
    assert parse_command(text) == Help()


@pytest.mark.parametrize("text", ["metrics", "METRICS", " queue ", "health"])
def test_metrics_words_ask_for_the_queue(text: str) -> None:
    assert parse_command(text) == Metrics()


@pytest.fixture
async def service() -> AsyncIterator[CaptureService]:
    """The service's parsing needs no upstream: nothing here is looked up."""
    async with CaptureStatusClient(fast_options(), SecretStr("k")) as client:
        yield CaptureService.for_client(client)


def test_any_other_text_is_a_lookup_of_what_it_holds() -> None:
    assert parse_command(f"  {A} please ") == Lookup(f"{A} please")


def test_ids_are_found_anywhere_deduplicated_and_lower_cased(service: CaptureService) -> None:
    text = (
        f"see https://asyncapi.leadsquared.com/opportunity/status?RequestID={A.upper()} "
        f"and log line req={{{B}}} and again {A}"
    )
    parsed = parse_command(text)
    assert isinstance(parsed, Lookup)
    assert service.request_ids_in(parsed.text, max_ids=10) == [A, B]


def test_text_without_a_guid_is_refused_in_the_cores_words(service: CaptureService) -> None:
    with pytest.raises(InvalidRequestIdError, match=r"GUID|RequestId"):
        service.request_ids_in("c1d867a7-a325-4b68-954f please", max_ids=10)


def test_more_ids_than_the_cap_are_refused_with_the_count(service: CaptureService) -> None:
    with pytest.raises(TooManyRequestIdsError, match=r"3 RequestIds.*at most 2"):
        service.request_ids_in(f"{A} {B} {C}", max_ids=2)


def test_message_text_blocks_and_attachments_are_searched_but_not_slack_ids(
    service: CaptureService,
) -> None:
    message = {
        "client_msg_id": "0f1e2d3c-4b5a-4697-8a9b-0c1d2e3f4a5b",
        "ts": "1.2",
        "text": f"first {A}",
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [{"type": "link", "url": f"https://x.example/?id={B}"}],
                    }
                ],
            }
        ],
        "attachments": [{"fields": [{"title": "id", "value": C}], "fallback": A}],
    }
    assert service.first_request_ids(message_texts(message)).ids == [A, B, C]


def test_a_message_without_ids_has_none(service: CaptureService) -> None:
    found = service.first_request_ids(message_texts({"text": "deploy done", "blocks": []}))
    assert found.ids == []
    assert found.found == 0


def test_a_message_with_more_ids_than_the_cap_keeps_the_first(service: CaptureService) -> None:
    found = service.first_request_ids(message_texts({"text": f"{A} {B} {C} {A}"}), max_ids=2)
    assert (found.ids, found.found, found.left_out) == ([A, B], 3, 1)


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("/capture-status", True),
        ("/capture-status-dev", True),
        ("/capture-statuses", False),
        ("/other", False),
    ],
)
def test_the_command_and_its_dev_twin_are_served(name: str, matches: bool) -> None:
    assert (COMMAND_PATTERN.match(name) is not None) is matches


def test_a_card_target_round_trips() -> None:
    target = CardTarget(A, (A, B), shared=True, by="U0ALICE")
    assert CardTarget.decode(target.encode()) == target


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        "",
        "not json",
        "[1, 2]",
        json.dumps({"id": "nope"}),
        json.dumps({"id": f"{A} {B}"}),
    ],
)
def test_values_that_are_not_ours_are_refused(value: object) -> None:
    assert CardTarget.decode(value) is None


def test_a_tampered_value_keeps_only_request_ids() -> None:
    value = json.dumps(
        {"id": A, "ids": ["<!channel>", B, 7, B, "x" * 100], "shared": "yes", "by": "<@U1>"}
    )
    assert CardTarget.decode(value) == CardTarget(A, (A, B), shared=False, by=None)


def test_a_batch_refresh_names_the_ids_to_ask_again_and_nothing_else() -> None:
    target = CardTarget(A, (A, B), fresh=(A, B))
    assert CardTarget.decode(target.encode()) == target
    assert target.fresh_ids == (A, B)
    assert CardTarget(A, (A, B), fresh=(A,)) == CardTarget(A, (A, B))
    outsider = "0d6f3a52-1c1e-4f7a-9b1d-5a0a7c3e2f10"
    tampered = json.dumps({"id": A, "ids": [A, B], "fresh": [outsider, B, "<!here>"]})
    assert CardTarget.decode(tampered) == CardTarget(A, (A, B), fresh=(B,))
