"""``capture-status watch``: follows ids until final, a line per change, exit codes, Ctrl-C.

The command runs in process against the simulator; the tests that follow a request from
In-Queue to final drive the watcher's clock (``FakeClock``) and wake the watcher instead of
waiting for its schedule, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
import io
import signal
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import cli.watch as watch_command
from cli.watch import Follow, Followed, FollowResult, line_text, watch_display
from shared import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CaptureService,
    StatusKind,
    WatchNotice,
    load_settings,
    migrate_store,
    open_service,
    open_store,
)
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Fault, FaultKind
from shared.store import WatchCounts
from tests.cli.conftest import Cli
from tests.conftest import FakeClock
from tests.databases import open_test_store

CREATED = SAMPLES["created"].request_id
FAILED = SAMPLES["failure_invalid_activity_fields"].request_id
IN_QUEUE = SAMPLES["in_queue"].request_id
QUEUED_ANSWER: dict[str, Any] = dict(SAMPLES["in_queue"].envelope["TaskStatus"])
CREATED_ANSWER: dict[str, Any] = dict(SAMPLES["created"].envelope["TaskStatus"])


def _sqlite(folder: Path) -> str:
    return f"sqlite:///{folder / 'capture-status.db'}"


async def _counts(url: str) -> WatchCounts:
    async with open_test_store(url) as store:
        return await store.counts(overdue_after=60)


def _counts_now(url: str) -> WatchCounts:
    return asyncio.run(_counts(url))


# --- the command, as people run it -------------------------------------------------------


def test_ids_already_final_are_answered_at_once_with_no_watch(cli: Cli) -> None:
    ran = cli("watch", CREATED, FAILED)
    assert ran.code == EXIT_OK, ran.err
    assert f"✅ Success  {CREATED}  Opportunity created" in ran.out
    assert f"❌ FAILURE  {FAILED}" in ran.out
    assert "MXInvalidActivityFieldsException" in ran.out  # each id's card follows its line
    assert "All 2 requests are final." in ran.err
    assert sorted(cli.looked_up()) == sorted([CREATED, FAILED])  # once each, nothing more
    counts = _counts_now(_sqlite(cli.folder))
    assert (counts.active, counts.subscribers) == (0, {})


def test_an_unknown_id_exits_1_saying_why_and_is_not_watched(cli: Cli) -> None:
    ran = cli("watch", UNKNOWN_REQUEST_ID, CREATED)
    assert ran.code == EXIT_FAILED
    assert f"{UNKNOWN_REQUEST_ID}  Not watched: No request with this id was found" in ran.out
    assert "1 of 2 requests are final." in ran.err
    assert f"{UNKNOWN_REQUEST_ID}: Not watched:" in ran.err
    assert _counts_now(_sqlite(cli.folder)).subscribers == {}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["not-an-id", CREATED], "'not-an-id' is not a LeadSquared RequestId."),
        ([CREATED, "--timeout", "0"], "--timeout takes a number of seconds greater than 0"),
        ([CREATED, "--timeout", "nan"], "--timeout takes a number of seconds greater than 0"),
        ([CREATED, "--timeout", "43201"], "--timeout can be at most 43200 seconds (12 h)"),
    ],
    ids=["not an id", "zero timeout", "nan timeout", "timeout past the expiry"],
)
def test_usage_problems_exit_2_before_anything_is_looked_up(
    cli: Cli, args: list[str], says: str
) -> None:
    ran = cli("watch", *args)
    assert ran.code == EXIT_USAGE
    assert says in ran.err.replace("\n", " ")
    assert cli.looked_up() == []
    assert not (cli.folder / "capture-status.db").exists()  # nor the database opened


def test_the_timeout_exits_1_says_what_was_seen_and_leaves_nothing_watched(cli: Cli) -> None:
    ran = cli("watch", IN_QUEUE, CREATED, "--timeout", "0.3")
    assert ran.code == EXIT_FAILED
    assert f"⏳ In-Queue  {IN_QUEUE}  watching" in ran.out
    assert "Stopped waiting after 1 s (--timeout)." in ran.err
    assert "1 of 2 requests are final." in ran.err
    assert f"{IN_QUEUE}: still not final (last seen In-Queue)" in ran.err
    assert "run `capture-status watch` again" in ran.err
    counts = _counts_now(_sqlite(cli.folder))
    assert counts.active == 0  # unwatched on the way out: nobody checks it for us any more
    assert counts.subscribers == {"stopped": 1}


def test_ids_from_standard_input_are_each_followed_once(cli: Cli) -> None:
    stdin = f"queued RequestId={CREATED}\nagain {CREATED.upper()}\nfailed: {FAILED}\n".encode()
    ran = cli("watch", "-", CREATED, stdin=stdin)
    assert ran.code == EXIT_OK, ran.err
    assert "Found 2 distinct RequestIds in 3 lines" in ran.err
    assert ran.out.count(f"✅ Success  {CREATED}") == 1
    assert sorted(cli.looked_up()) == sorted([CREATED, FAILED])


def test_standard_input_without_any_id_exits_2(cli: Cli) -> None:
    ran = cli("watch", "-", stdin=b"nothing to see here\n")
    assert ran.code == EXIT_USAGE
    assert "Found 0 distinct RequestIds in 1 line" in ran.err
    assert cli.looked_up() == []


def test_an_unknown_account_exits_2(cli: Cli) -> None:
    ran = cli("watch", CREATED, "--account", "mars")
    assert ran.code == EXIT_USAGE
    assert "mars" in ran.err
    assert cli.looked_up() == []


def test_a_database_that_does_not_answer_is_one_clear_message_and_exit_1(cli: Cli) -> None:
    cli.monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    ran = cli("watch", IN_QUEUE)
    assert ran.code == EXIT_FAILED
    assert "cannot watch right now" in ran.out
    assert f"{IN_QUEUE}: capture-status cannot watch right now" in ran.err
    assert "Traceback" not in ran.out + ran.err


def test_ctrl_c_stops_with_a_summary_and_leaves_nothing_watched(cli: Cli) -> None:
    shown = watch_command._PlainLines.changed  # pyright: ignore[reportPrivateUsage]

    def changed_then_ctrl_c(self: Any, item: Followed) -> None:
        shown(self, item)
        if item.state == "watching":
            signal.raise_signal(signal.SIGINT)

    with cli.monkeypatch.context() as patch:
        patch.setattr(watch_command._PlainLines, "changed", changed_then_ctrl_c)  # pyright: ignore[reportPrivateUsage]
        ran = cli("watch", IN_QUEUE, CREATED)
    assert ran.code == EXIT_INTERRUPTED
    assert "Stopped by Ctrl-C." in ran.err
    assert f"{IN_QUEUE}: still not final (last seen In-Queue)" in ran.err
    counts = _counts_now(_sqlite(cli.folder))
    assert (counts.active, counts.subscribers) == (0, {"stopped": 1})


# --- following a request to its end (the watcher's clock in the test's hands) -------------


class Recorder:
    """A display that keeps every line shown and every card, and lets a test await them."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ended_ids: list[str] = []
        self._change = asyncio.Event()

    def changed(self, item: Followed) -> None:
        self.lines.append(line_text(item).plain)
        self._change.set()

    def ended(self, item: Followed) -> None:
        self.ended_ids.append(item.request_id)
        self.changed(item)

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not done():
                self._change.clear()
                await self._change.wait()


@asynccontextmanager
async def _service(cli: Cli, url: str, clock: FakeClock) -> AsyncGenerator[CaptureService]:
    cli.monkeypatch.setenv("DATABASE_URL", url)
    settings = load_settings()
    await migrate_store(settings)
    async with (
        open_store(settings, clock=clock) as store,
        open_service(settings, store=store) as service,
    ):
        yield service


def _queued(cli: Cli) -> str:
    """A fresh RequestId that the simulator answers In-Queue until told otherwise."""
    rid = str(uuid.uuid4())
    cli.sim.put_answer(rid, QUEUED_ANSWER)
    return rid


async def _finish(cli: Cli, follow: Follow, rid: str, clock: FakeClock) -> None:
    """The request becomes final upstream; its next check comes due; the watcher looks."""
    cli.sim.put_answer(rid, CREATED_ANSWER)
    clock.advance(6)  # the head of the queue is checked every 5 s
    assert follow.watcher is not None
    follow.watcher.poke()


async def test_a_request_is_followed_from_in_queue_to_final_with_a_line_per_change(
    cli: Cli,
) -> None:
    clock = FakeClock()
    rid = _queued(cli)
    async with _service(cli, _sqlite(cli.folder), clock) as service:
        follow = Follow(service, [rid, CREATED], account="default", timeout=600)
        display = Recorder()
        running = asyncio.create_task(follow.run(display))
        await display.until(lambda: follow.items[rid].state == "watching")
        await _finish(cli, follow, rid, clock)
        result = await asyncio.wait_for(running, 10)
    assert result.exit_code == EXIT_OK
    assert display.ended_ids == [CREATED, rid]  # the final one at once, the other later
    mine = [line for line in display.lines if rid in line]
    assert mine == [
        f"⏳ In-Queue  {rid}  watching",
        f"✅ Success  {rid}  Opportunity created: 0722f894-8c1a-4e6b-b2d3-5f7a9c1e3b42",
    ]
    item = follow.items[rid]
    assert item.view is not None
    assert item.view.explanation.headline.startswith("Opportunity")
    counts = await _counts(_sqlite(cli.folder))
    assert (counts.active, counts.subscribers) == (0, {"sent": 1})


async def test_two_commands_on_one_request_share_its_watch_and_each_is_told_once(
    cli: Cli, database_url: str
) -> None:
    clock = FakeClock()
    rid = _queued(cli)
    told: list[str] = []
    async with _service(cli, database_url, clock) as service:
        first = Follow(service, [rid], account="default", timeout=600)
        second = Follow(service, [rid], account="default", timeout=600)
        for follow in (first, second):
            deliver = follow.deliver

            async def counted(notice: WatchNotice, deliver: Any = deliver) -> Any:
                told.append(notice.kind)
                return await deliver(notice)

            follow.deliver = counted  # pyright: ignore[reportAttributeAccessIssue]
        displays = Recorder(), Recorder()
        runs = [
            asyncio.create_task(follow.run(display))
            for follow, display in zip((first, second), displays, strict=True)
        ]
        for follow, display in zip((first, second), displays, strict=True):
            await display.until(lambda follow=follow: follow.items[rid].state == "watching")
        await _finish(cli, first, rid, clock)
        assert second.watcher is not None
        second.watcher.poke()
        results: list[FollowResult] = await asyncio.wait_for(asyncio.gather(*runs), 10)
        # a third command after the end answers at once and is told nothing of the others
        third = Follow(service, [rid], account="default", timeout=600)
        late = await asyncio.wait_for(third.run(Recorder()), 10)
    assert [result.exit_code for result in results] == [EXIT_OK, EXIT_OK]
    assert sorted(told) == sorted([first.kind, second.kind])  # each told, once
    assert late.exit_code == EXIT_OK
    assert late.items[0].checks == 0
    counts = await _counts(database_url)
    assert (counts.active, counts.subscribers) == (0, {"sent": 2})


async def test_a_failed_check_is_said_on_the_line_and_the_watch_goes_on(cli: Cli) -> None:
    clock = FakeClock()
    rid = _queued(cli)
    async with _service(cli, _sqlite(cli.folder), clock) as service:
        follow = Follow(service, [rid], account="default", timeout=600)
        display = Recorder()
        running = asyncio.create_task(follow.run(display))
        await display.until(lambda: follow.items[rid].state == "watching")
        cli.sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=100))
        clock.advance(6)
        assert follow.watcher is not None
        follow.watcher.poke()
        await display.until(lambda: follow.items[rid].check_failed is not None)
        cli.sim.set_fault(None)
        running.cancel()  # as Ctrl-C does
        result = await asyncio.wait_for(running, 10)
    assert result.interrupted
    assert result.exit_code == EXIT_INTERRUPTED
    assert any("the last check failed (server error)" in line for line in display.lines)


def test_plain_lines_show_changes_only(cli: Cli) -> None:
    del cli
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)
    rid = str(uuid.uuid4())
    item = Followed(rid)
    with watch_display(console, [item], lambda: 0.0) as display:
        display.changed(item)
        item.state, item.status = "watching", StatusKind.IN_QUEUE
        display.changed(item)
        item.checks, item.next_check_at = 1, 30.0
        display.changed(item)  # another check, nothing new to say: no line
        item.check_failed = "timeout"
        display.changed(item)
    assert out.getvalue().splitlines() == [
        f"… asking  {rid}  looking it up",
        f"⏳ In-Queue  {rid}  watching",
        f"⏳ In-Queue  {rid}  watching · the last check failed (timeout) · 1 check",
    ]


def test_a_terminal_gets_the_lines_redrawn_with_the_next_check(cli: Cli) -> None:
    del cli
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, highlight=False)
    item = Followed(str(uuid.uuid4()), state="watching", checks=2, next_check_at=100.0)
    with watch_display(console, [item], lambda: 70.0) as display:
        display.changed(item)
    text = out.getvalue()
    assert f"{item.request_id}" in text
    assert "watching · 2 checks · next check in 30 s" in text
