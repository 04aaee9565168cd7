"""Reading a batch: every RequestId in any input, and a clear word on what was skipped."""

from __future__ import annotations

import random

from shared.service.batch import MAX_BATCH_INPUT_CHARS, read_batch
from shared.simulator import SAMPLES

CREATED = SAMPLES["created"].request_id
DUPLICATE = SAMPLES["duplicate"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id


def _rid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


def test_input_without_any_request_id_says_what_one_is_and_what_was_skipped() -> None:
    batch = read_batch("2024-05-01 12:00:01 INFO started\n\nnothing to see here\n")
    assert batch.ids == []
    assert batch.lines == 3
    assert batch.lines_without_id == 2  # the blank line is not counted
    described = batch.describe()
    assert "Found 0 distinct RequestIds in 3 lines." in described
    assert "Skipped 2 lines without a RequestId." in described
    assert "A RequestId is a GUID such as" in described


def test_empty_input_says_so() -> None:
    batch = read_batch(b"")
    assert (batch.ids, batch.lines, batch.lines_without_id, batch.undecodable) == ([], 0, 0, 0)
    assert "Found 0 distinct RequestIds in 0 lines." in batch.describe()


def test_binary_data_around_two_ids_finds_both_and_counts_the_bytes_that_are_not_text() -> None:
    junk = b"\x00\x00\xff\xfe"  # 2 NULs, 2 bytes that are never UTF-8
    cut_sequence = b"\xe2\x82"  # the start of a 3-byte character: 2 bytes, not one
    data = (
        junk
        + CREATED.encode()
        + b"\x80\x81\x82 "
        + cut_sequence
        + b"\n\x1c\x1d"  # separators str.splitlines would take for line breaks
        + DUPLICATE.upper().encode()
        + "\ufffd".encode()  # a replacement character that was in the data: text, not binary
    )
    batch = read_batch(data)
    assert batch.ids == [CREATED, DUPLICATE]
    assert batch.undecodable == 4 + 3 + 2 + 2
    assert batch.lines == 2
    assert "Skipped 11 bytes of binary data." in batch.describe()


def test_a_binary_file_without_ids_is_answered_clearly() -> None:
    data = bytes(random.Random(7).randrange(256) for _ in range(4096))
    batch = read_batch(data)
    assert batch.ids == []
    assert batch.undecodable > 0
    described = batch.describe()
    assert f"{batch.undecodable} bytes of binary data" in described
    assert "A RequestId is a GUID" in described


def test_a_hundred_thousand_lines_give_every_id_once_in_order() -> None:
    rng = random.Random(10)
    ids = [_rid(n) for n in range(1, 501)]
    where = sorted(rng.sample(range(100_000), len(ids)))
    at = dict(zip(where, ids, strict=True))
    lines = [
        f"2024-05-01T12:00:00Z worker-{n % 7} RequestID={at[n]} queued"
        if n in at
        else f"2024-05-01T12:00:00Z worker-{n % 7} heartbeat ok"
        for n in range(100_000)
    ]
    batch = read_batch("\n".join(lines))
    assert batch.ids == ids
    assert batch.lines == 100_000
    assert batch.lines_without_id == 100_000 - len(ids)
    assert batch.repeats == 0


def test_one_id_repeated_a_thousand_times_is_found_once() -> None:
    batch = read_batch("\n".join(f"retrying {CREATED}" for _ in range(1_000)))
    assert batch.ids == [CREATED]
    assert batch.repeats == 999
    assert "Found 1 distinct RequestId in 1000 lines." in batch.describe()
    assert "Skipped 999 repeated mentions." in batch.describe()


def test_repeats_on_one_line_and_in_other_spellings_count_too() -> None:
    batch = read_batch(f"{CREATED} {CREATED.upper()} {{{CREATED}}}\n{CREATED}")
    assert batch.ids == [CREATED]
    assert batch.repeats == 3


def test_braced_upper_case_and_url_ids_are_found_and_lines_without_ids_counted() -> None:
    text = "\n".join(
        [
            f"{{{CREATED.upper()}}}",
            "",
            f"https://api.leadsquared.com/opportunity/status?RequestID={DUPLICATE}&x=1",
            "   ",
            "nothing here",
            f"see ({IN_QUEUE.upper()}), twice: {IN_QUEUE}",
            "c1d867a7-a325-4b68-954f-237dcd3c15e",  # one hex digit short: no id
        ]
    )
    batch = read_batch(text)
    assert batch.ids == [CREATED, DUPLICATE, IN_QUEUE]
    assert batch.lines == 7
    assert batch.lines_without_id == 2  # blank and whitespace-only lines are not counted
    assert batch.repeats == 1
    described = batch.describe()
    assert "Found 3 distinct RequestIds in 7 lines." in described
    assert "1 repeated mention, 2 lines without a RequestId" in described


def test_input_past_the_limit_is_cut_and_says_so() -> None:
    head = f"{CREATED}\n"
    tail = f"\n{DUPLICATE}\n"
    filler = "x" * (MAX_BATCH_INPUT_CHARS - len(head))
    batch = read_batch(head + filler + tail)
    assert batch.ids == [CREATED]  # the id past the limit was never read
    assert batch.cut == len(tail)
    assert f"{len(tail)} characters past the first {MAX_BATCH_INPUT_CHARS:,}" in batch.describe()


def test_input_within_the_limit_is_not_cut() -> None:
    batch = read_batch(f"{CREATED}\n")
    assert batch.cut == 0
    assert "past the first" not in batch.describe()
