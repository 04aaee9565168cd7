"""``capture-status watch``: follow requests until each is final, with a live line per id.

Each id is looked up at once, as a person waiting now (more than ten: at the bulk lane's
pace). One that is final already, unknown, or of another account is answered there and then
with its card, and not watched. The others are watched through the core
(:meth:`~shared.CaptureService.watch`): one subscriber of kind ``cli:<instance>`` per id,
told by this process's own watcher (:func:`~shared.running_watcher`) when its watch ends;
the watcher's checks update the lines meanwhile. Joining a watch that another process
(the Slack app, the MCP server) already runs is fine: whoever checks it, the notice of its
end reaches this process.

On a terminal the lines are redrawn in place (rich), the card of each id printed above them
as it ends; otherwise a plain line is printed whenever an id's status changes, then its
card. The command ends when every id is final (exit 0), when ``--timeout`` passes or any id
could not be followed (exit 1), or on Ctrl-C (exit 130); a summary of what was seen goes to
standard error. On the way out, whatever is still watched for this process is unwatched,
so nothing goes on checking for a process that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cli.get_many import INTERACTIVE_MAX
from cli.principal import PRINCIPAL
from cli.queries import gather_queries
from cli.terminal import status_card
from shared import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Caller,
    CaptureService,
    DeliveryResult,
    InvalidRequestIdError,
    LookupView,
    NewSubscriber,
    StatusKind,
    TooManyWatchesError,
    WatchCheck,
    Watcher,
    WatchNotice,
    WatchUnavailableError,
    describe_duration,
    extract_request_id,
    inert,
    running_watcher,
)

__all__ = [
    "Follow",
    "FollowResult",
    "Followed",
    "WatchDisplay",
    "WatchPlan",
    "plan_watch",
    "run_watch",
    "watch_display",
]

#: what an id is in this command: being asked, watched, or how it ended
State = Literal["asking", "watching", "final", "failed", "expired"]

#: seconds given to unwatching on the way out (the store may be the thing that is down)
_UNWATCH_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class WatchPlan:
    """What one ``watch`` follows.

    Attributes:
        ids: the RequestIds, each once, in the order given.
        timeout: seconds to wait at most for all of them.
        stdin: what was said about standard input (for ``-``), else ``None``.
    """

    ids: list[str]
    timeout: float
    stdin: str | None = None


def plan_watch(
    arguments: Sequence[str], stdin: bytes, *, timeout: float | None, longest: float
) -> WatchPlan | str:
    """The plan for these arguments, or the usage problem that stops it (for people).

    Args:
        arguments: the ``ID`` arguments (``-``: every RequestId of ``stdin``).
        stdin: what standard input held, when ``-`` is among the arguments.
        timeout: ``--timeout`` (``None``: ``longest``).
        longest: how long a watch lasts at most (``WATCH_EXPIRY_HOURS``), in seconds.
    """
    gathered = gather_queries(arguments, lambda: stdin)
    said = gathered.stdin.describe() if gathered.stdin is not None else None
    for argument in gathered.without_id:
        try:
            extract_request_id(argument)
        except InvalidRequestIdError as error:  # the core's words for a non-id
            return error.message
    if not gathered.ids:
        return said or "No RequestIds were given."
    if timeout is None:
        timeout = longest
    elif not (math.isfinite(timeout) and timeout > 0):
        return "--timeout takes a number of seconds greater than 0, such as 600."
    elif timeout > longest:
        return (
            f"--timeout can be at most {longest:g} seconds ({describe_duration(longest)}), "
            "how long a watch lasts (WATCH_EXPIRY_HOURS): give a shorter one, or leave it "
            "out to wait that long."
        )
    return WatchPlan(ids=gathered.ids, timeout=timeout, stdin=said)


@dataclass(slots=True)
class Followed:
    """One followed request, as this command knows it now.

    Attributes:
        request_id: the RequestId.
        state: being asked (``asking``), ``watching``, or how it ended: ``final``;
            ``failed`` (not watched: unknown, refused, the store down...; or a check failed
            for good); ``expired`` (still not final when its watch ended).
        status: the last status seen (``None``: none yet).
        view: the latest explained answer (the final one once it ended), when known.
        note: what happened, in the core's words (why it failed, how it ended).
        checks: checks this process's watcher made of it.
        check_failed: the code of the error of the last check, when it failed.
        next_check_at: when it is checked next (watcher clock), when known.
        done: set once the request ended, whichever way.
    """

    request_id: str
    state: State = "asking"
    status: StatusKind | None = None
    view: LookupView | None = None
    note: str = ""
    checks: int = 0
    check_failed: str | None = None
    next_check_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ended(self) -> bool:
        """Nothing more will be learnt about it here."""
        return self.state not in ("asking", "watching")

    def end(self, state: State, *, note: str = "", view: LookupView | None = None) -> None:
        """It ended: ``state``, with ``note`` and its last ``view`` (kept when ``None``)."""
        self.state = state
        self.note = note
        if view is not None:
            self.view = view
            if view.status is not None:
                self.status = view.status.status
        self.next_check_at = None
        self.done.set()


class WatchDisplay(Protocol):
    """Where the lines go: told after every change, and when a request ends."""

    def changed(self, item: Followed) -> None:
        """``item``'s line changed."""
        ...

    def ended(self, item: Followed) -> None:
        """``item`` ended (its line changed too): show its card."""
        ...


@dataclass(frozen=True, slots=True)
class FollowResult:
    """How a ``watch`` went.

    Attributes:
        items: every followed request, in the order given.
        timed_out: ``--timeout`` passed before every request ended.
        interrupted: stopped by Ctrl-C.
    """

    items: list[Followed]
    timed_out: bool = False
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """130 when interrupted, 0 when every request is final, else 1."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if all(item.state == "final" for item in self.items):
            return EXIT_OK
        return EXIT_FAILED


class Follow:
    """Follows some RequestIds of one account until each ends, for one ``watch`` command.

    Args:
        service: the service, opened with a store.
        ids: the RequestIds (each once).
        account: the account to ask.
        timeout: seconds to wait at most, from the first lookup on.
        instance: this command's name among subscribers (default: a fresh random one).
    """

    def __init__(
        self,
        service: CaptureService,
        ids: Sequence[str],
        *,
        account: str,
        timeout: float,
        instance: str | None = None,
    ) -> None:
        self.service = service
        self.account = account
        self.timeout = timeout
        self.instance = instance or uuid.uuid4().hex
        self.kind = f"cli:{self.instance}"
        self.items = {rid: Followed(rid) for rid in ids}
        #: the watcher of this command, while it runs (tests poke it)
        self.watcher: Watcher | None = None
        self._display: WatchDisplay | None = None
        self._subscriber = NewSubscriber(
            kind=self.kind,
            principal=PRINCIPAL,
            scope="cli",
            target={"pid": os.getpid(), "instance": self.instance},
            target_key=self.instance,
        )

    @property
    def clock(self) -> Callable[[], float]:
        """The watcher's clock (the store's): what ``next_check_at`` is measured in."""
        store = self.service.store
        return store.clock if store is not None else time.time

    async def run(self, display: WatchDisplay) -> FollowResult:
        """Ask, watch and wait until every request ended, the timeout passed or Ctrl-C."""
        self._display = display
        timed_out = interrupted = False
        try:
            async with running_watcher(
                self.service, notifiers={self.kind: self}, on_check=self._checked, own_only=True
            ) as watcher:
                self.watcher = watcher
                try:
                    async with asyncio.timeout(self.timeout):
                        caller = self._caller()
                        await asyncio.gather(*(self._start(rid, caller) for rid in self.items))
                        for item in self.items.values():
                            await item.done.wait()
                except TimeoutError:
                    timed_out = True
        except (KeyboardInterrupt, asyncio.CancelledError):
            interrupted = True  # Ctrl-C: say what was seen, and leave nothing watched
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                task.uncancel()  # handled here: the unwatching below must run as usual
        finally:
            self.watcher = None
            await self._unwatch()  # whatever ended the wait, nothing of ours stays watched
        return FollowResult(list(self.items.values()), timed_out=timed_out, interrupted=interrupted)

    def _caller(self) -> Caller:
        """A person waiting now for a few ids; more go at the bulk lane's pace (as ``get``)."""
        if len(self.items) <= INTERACTIVE_MAX:
            return Caller.interactive(PRINCIPAL)
        return Caller.bulk(PRINCIPAL)

    # --- the core calls these --------------------------------------------------------------

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        """The watch of one of our requests ended (this is the ``cli:<instance>`` notifier)."""
        item = self.items.get(notice.request_id)
        if item is not None and not item.ended and notice.account == self.account:
            if notice.end == "final":
                headline = notice.view.explanation.headline if notice.view else notice.headline
                item.end("final", note=headline, view=notice.view)
            elif notice.end == "expired":
                item.end("expired", note=notice.headline, view=notice.view)
            else:
                item.end("failed", note=notice.headline, view=notice.view)
            self._changed(item, ended=True)
        return DeliveryResult("sent")

    async def _checked(self, check: WatchCheck) -> None:
        """The watcher checked a watch: update the line when it is one of ours."""
        item = self.items.get(check.request_id)
        if item is None or item.ended or check.account != self.account:
            return
        item.checks += 1
        if check.ended is not None:
            return  # its notice follows at once, with the final answer: the line changes then
        if check.status is not None:
            item.status = check.status.status
            item.check_failed = None
        else:
            item.check_failed = check.error.code if check.error is not None else "error"
        item.next_check_at = check.next_check_at
        self._changed(item)

    # --- inside -----------------------------------------------------------------------------

    async def _start(self, rid: str, caller: Caller) -> None:
        item = self.items[rid]
        try:
            answer = await self.service.watch(
                rid,
                subscriber=self._subscriber,
                caller=caller,
                account=self.account,
                expires_in=self.timeout,
                limited=False,
            )
        except (TooManyWatchesError, WatchUnavailableError) as error:
            if not item.ended:
                item.end("failed", note=error.message)
                self._changed(item, ended=True)
            return
        if item.ended:  # joined a watch that ended (and told us) before this answer came
            return
        view = answer.view
        if answer.watching:
            item.state = "watching"
            item.view = view
            item.status = view.status.status if view.status is not None else None
            self._changed(item)
        elif view.status is not None and view.status.is_final:
            item.end("final", note=view.explanation.headline, view=view)
            self._changed(item, ended=True)
        else:
            item.end("failed", note=answer.message, view=view)
            self._changed(item, ended=True)

    def _changed(self, item: Followed, *, ended: bool = False) -> None:
        if self._display is None:
            return
        if ended:
            self._display.ended(item)
        else:
            self._display.changed(item)

    async def _unwatch(self) -> None:
        """Stop whatever is still watched for this command (none of it will be told)."""
        if self.service.store is None or all(item.ended for item in self.items.values()):
            return  # every watch of ours ended and told us: nothing is left to stop
        with contextlib.suppress(WatchUnavailableError, TimeoutError):
            async with asyncio.timeout(_UNWATCH_SECONDS):
                # a watch added by a call cut short by Ctrl-C still commits: wait for it first
                await self.service.store.settle(_UNWATCH_SECONDS)
                await self.service.unwatch(None, principal=PRINCIPAL, kind=self.kind)


# --- what people see --------------------------------------------------------------------------

_STYLE = {
    StatusKind.SUCCESS: "green",
    StatusKind.FAILURE: "red",
    StatusKind.ERROR: "yellow",
    StatusKind.IN_QUEUE: "cyan",
}


def _word(item: Followed) -> tuple[str, str]:
    """The symbol and word that start ``item``'s line (never colour alone)."""
    if item.state == "asking":
        return "…", "asking"
    if item.state == "watching" and item.status is None:
        return "…", "no status yet"
    if item.status is not None and item.state != "failed":
        return item.status.symbol, item.status.value
    if item.view is not None:
        explanation = item.view.explanation
        if item.view.error is not None:
            return explanation.symbol, item.view.error.code.replace("_", " ")
        return explanation.symbol, explanation.status_raw or "not watched"
    return "❗", "not watched"


def _note(item: Followed, now: float | None) -> str:
    """What follows the id: what happens next, or how it ended (one line, inert)."""
    if item.state == "asking":
        text = "looking it up"
    elif item.state == "watching":
        parts = ["watching"]
        if item.check_failed is not None:
            parts.append(f"the last check failed ({item.check_failed.replace('_', ' ')})")
        if item.checks:
            parts.append(f"{item.checks} check{'s' if item.checks != 1 else ''}")
        if now is not None and item.next_check_at is not None:
            parts.append(f"next check in {describe_duration(item.next_check_at - now)}")
        text = " · ".join(parts)
    else:
        text = item.note
    return inert(text, line_breaks=False)


def line_text(item: Followed, now: float | None = None) -> Text:
    """One request's line: symbol and status word, the id, what happens next or how it ended.

    Args:
        item: the request.
        now: the watcher's clock now, to say when the next check comes (``None``: unsaid).
    """
    symbol, word = _word(item)
    style = _STYLE.get(item.status, "") if item.status is not None else ""
    if item.state in ("failed", "expired"):
        style = "red" if item.state == "failed" else "yellow"
    return Text.assemble(
        (inert(f"{symbol} {word}", line_breaks=False), f"bold {style}".strip()),
        "  ",
        (item.request_id, "bold"),
        "  ",
        (_note(item, now), "dim" if not item.ended else ""),
    )


class _PlainLines:
    """Not a terminal: a line whenever a request's status changes, then its card at the end."""

    def __init__(self, out: Console) -> None:
        self._out = out
        self._shown: dict[str, tuple[str, StatusKind | None, str | None, str]] = {}

    def changed(self, item: Followed) -> None:
        key = (item.state, item.status, item.check_failed, item.note)
        if self._shown.get(item.request_id) == key:
            return
        self._shown[item.request_id] = key
        self._out.print(line_text(item), soft_wrap=True)

    def ended(self, item: Followed) -> None:
        self.changed(item)
        if item.view is not None:
            self._out.print(status_card(item.view))


class _LiveLines:
    """A terminal: every request's line, redrawn in place; each card printed above as it ends."""

    def __init__(self, out: Console, items: Sequence[Followed], clock: Callable[[], float]) -> None:
        self._out = out
        self._items = list(items)
        self._clock = clock
        self.live = Live(
            console=out,
            get_renderable=self.render,
            refresh_per_second=2,
            transient=False,
        )

    def render(self) -> RenderableType:
        now = self._clock()
        table = Table.grid(padding=(0, 0))
        table.add_column(no_wrap=True, overflow="ellipsis")
        for item in self._items:
            table.add_row(line_text(item, now))
        return table

    def changed(self, item: Followed) -> None:
        del item
        self.live.refresh()

    def ended(self, item: Followed) -> None:
        if item.view is not None:
            self.live.console.print(status_card(item.view))
        self.live.refresh()


@contextlib.contextmanager
def watch_display(
    out: Console, items: Sequence[Followed], clock: Callable[[], float]
) -> Generator[WatchDisplay]:
    """Live lines on ``out`` while the block runs when it is a terminal, else plain lines."""
    if not out.is_terminal:
        yield _PlainLines(out)
        return
    lines = _LiveLines(out, items, clock)
    with lines.live:
        yield lines


def summary_lines(result: FollowResult, timeout: float) -> list[str]:
    """What was seen, for standard error: what is final, what failed, what is not final yet."""
    items = result.items
    final = [item for item in items if item.state == "final"]
    lines: list[str] = []
    if len(final) == len(items):
        lines.append(
            "The request is final." if len(items) == 1 else f"All {len(items)} requests are final."
        )
        return lines
    if result.interrupted:
        lines.append("Stopped by Ctrl-C.")
    elif result.timed_out:
        lines.append(f"Stopped waiting after {describe_duration(timeout)} (--timeout).")
    lines.append(f"{len(final)} of {len(items)} requests are final.")
    for item in items:
        if item.state in ("failed", "expired"):
            why = inert(item.note or "it could not be followed", line_breaks=False)
            lines.append(f"  {item.request_id}: {why}")
    waiting = [item for item in items if not item.ended]
    for item in waiting:
        seen = f"last seen {item.status.value}" if item.status is not None else "no status seen"
        checks = f", {item.checks} check{'s' if item.checks != 1 else ''}" if item.checks else ""
        lines.append(f"  {item.request_id}: still not final ({seen}{checks})")
    if waiting:
        lines.append(
            "Nothing is watched for this command any more: run `capture-status watch` again "
            "with the ids still not final, or look them up with `capture-status get`."
        )
    return lines


async def run_watch(
    service: CaptureService,
    plan: WatchPlan,
    *,
    account: str,
    out: Console,
    err: Console,
) -> int:
    """``watch``: follow ``plan``'s ids on ``account``; lines, cards, a summary; the exit status."""
    follow = Follow(service, plan.ids, account=account, timeout=plan.timeout)
    with watch_display(out, list(follow.items.values()), follow.clock) as display:
        result = await follow.run(display)
    for line in summary_lines(result, plan.timeout):
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    return result.exit_code
