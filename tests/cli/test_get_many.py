"""``capture-status get`` with any number of ids: standard input, each id once, in order."""

from __future__ import annotations

import json

from shared import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID
from tests.cli.conftest import Cli

#: twelve requests of the default account the simulator knows (more than one person waits for)
TWELVE = [sample.request_id for sample in SAMPLES.values()][:12]


def test_ids_from_standard_input_are_each_looked_up_once_in_the_order_first_given(
    cli: Cli,
) -> None:
    log = "\n".join(f"2026-11-28 queued RequestId={rid}" for rid in TWELVE)
    stdin = f"{log}\nno id on this line\n{TWELVE[3].upper()} again\n{log}\n".encode()
    extra = SAMPLES["in_queue_lowercase"].request_id
    ran = cli("get", "--json", "-", extra, TWELVE[0], stdin=stdin)
    assert ran.code == EXIT_OK, ran.err
    views = json.loads(ran.out)
    assert [view["request_id"] for view in views] == [*TWELVE, extra]
    assert sorted(cli.looked_up()) == sorted([*TWELVE, extra])  # one call per id
    assert "Found 12 distinct RequestIds in 26 lines" in ran.err
    assert "13 repeated mentions, 1 line without a RequestId" in ran.err


def test_many_ids_in_json_have_the_shape_of_a_few(cli: Cli) -> None:
    few = cli("get", "--json", TWELVE[0])
    many = cli("get", "--json", *TWELVE)
    assert few.code == many.code == EXIT_OK, many.err
    [one] = json.loads(few.out)
    views = json.loads(many.out)
    assert [view["request_id"] for view in views] == TWELVE
    assert set(views[0]) == set(one)
    assert views[0]["explanation"]["headline"] == one["explanation"]["headline"]
    assert {view["account"] for view in views} == {"default"}


def test_each_id_gets_a_card_and_any_failure_exits_1(cli: Cli) -> None:
    ran = cli("get", *TWELVE, UNKNOWN_REQUEST_ID, "not-an-id")
    assert ran.code == EXIT_FAILED
    for rid in [*TWELVE, UNKNOWN_REQUEST_ID]:
        assert rid in ran.out
    assert "'not-an-id' is not a LeadSquared RequestId" in ran.out
    assert "2 of 14 lookups failed; each card says why." in ran.err
    assert "not-an-id" not in cli.looked_up()  # refused before any budget was spent


def test_standard_input_without_any_id_is_explained_with_exit_2(cli: Cli) -> None:
    ran = cli("get", "-", stdin=b"\x00\xff\xfe binary junk\nno ids here\n")
    assert ran.code == EXIT_USAGE
    assert "Found 0 distinct RequestIds in 2 lines" in ran.err
    assert "bytes of binary data" in ran.err
    assert "A RequestId is a GUID" in ran.err
    assert cli.looked_up() == []


def test_a_few_ids_from_standard_input_get_cards_as_before(cli: Cli) -> None:
    ran = cli("get", "-", stdin=f"{TWELVE[0]}\n{TWELVE[0]}\n".encode())
    assert ran.code == EXIT_OK, ran.err
    assert ran.out.count(TWELVE[0]) == 1
    assert "Opportunity created" in ran.out


def test_no_progress_is_written_when_standard_error_is_not_a_terminal(cli: Cli) -> None:
    ran = cli("get", *TWELVE)
    assert ran.code == EXIT_OK
    assert ran.err == ""
    assert "\x1b" not in ran.out + ran.err
