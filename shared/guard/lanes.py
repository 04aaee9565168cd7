"""Who is asking for a call of the budget, and in which order waiting callers are served.

The budget scheduler (docs/architecture.md, "The budget scheduler") hands an account's calls
out by **lane**, highest first, and by **fair share** between the principals of one lane:

- *interactive*: a person or an assistant waiting now (Slack command, button, MCP tool, CLI
  ``get``);
- *watch*: checks of watched requests;
- *bulk*: batch jobs (``triage``, large Slack batches).

A :class:`Caller` names the lane and the principal (a Slack user, an MCP token, a CLI
process); :class:`FairQueue` orders the callers waiting for a call: any waiter of a higher
lane first, then round robin between the principals of the lane, first come first served
for one principal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict, deque
from collections.abc import Generator
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = ["ANONYMOUS", "Caller", "FairQueue", "Lane", "PrincipalSlots", "Ticket", "Waiter"]


class Lane(IntEnum):
    """The lanes of the budget, highest priority first (a lower value goes first)."""

    INTERACTIVE = 0
    WATCH = 1
    BULK = 2

    @property
    def label(self) -> str:
        """The lane's name in metrics and messages: ``interactive``, ``watch``, ``bulk``."""
        return _LABELS[self]

    @property
    def paced(self) -> bool:
        """Lower lanes spread their calls evenly over the window, so that the calls they hold
        free up one at a time and a higher lane's caller never waits long for one."""
        return self is not Lane.INTERACTIVE


_LABELS = {lane: lane.name.lower() for lane in Lane}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a call is for: its lane, and the principal whose fair share it counts against.

    Principals are short stable names: ``slack:T123:U456``, ``mcp:ops``, ``cli:4242``.
    """

    lane: Lane = Lane.INTERACTIVE
    principal: str = "anonymous"

    @classmethod
    def interactive(cls, principal: str) -> Caller:
        """A person or an assistant waiting for this answer now."""
        return cls(Lane.INTERACTIVE, principal)

    @classmethod
    def watch(cls, principal: str) -> Caller:
        """A check of a watched request."""
        return cls(Lane.WATCH, principal)

    @classmethod
    def bulk(cls, principal: str) -> Caller:
        """One lookup of a batch job."""
        return cls(Lane.BULK, principal)


#: the caller of code that names none (embedding, tests, v1 callers)
ANONYMOUS = Caller()


@dataclass(eq=False, slots=True)
class Waiter:
    """One caller waiting for a call; its future is resolved when the call is granted."""

    caller: Caller
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def live(self) -> bool:
        """Still waiting (not granted, timed out or cancelled)."""
        return not self.granted.done()


@dataclass(eq=False, slots=True)
class Ticket:
    """The caller of one upstream call that several lookups share (single-flight).

    Whoever joins the call may raise its lane: a person looking up an id that a batch is
    already fetching must not wait at the batch's pace.
    """

    caller: Caller
    #: the call's place in the queue, while it waits for the budget
    waiter: Waiter | None = None


class FairQueue:
    """Waiters ordered by lane, then round robin between principals, then arrival."""

    def __init__(self) -> None:
        self._lanes: dict[Lane, OrderedDict[str, deque[Waiter]]] = {
            lane: OrderedDict() for lane in Lane
        }
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def push(self, waiter: Waiter) -> None:
        """Queue ``waiter`` behind its principal's earlier waiters."""
        principals = self._lanes[waiter.caller.lane]
        queue = principals.get(waiter.caller.principal)
        if queue is None:
            queue = principals[waiter.caller.principal] = deque()
        queue.append(waiter)
        self._count += 1

    def head(self) -> Waiter | None:
        """The next live waiter to serve (waiters no longer live are dropped on the way)."""
        for principals in self._lanes.values():
            while principals:
                principal, queue = next(iter(principals.items()))
                while queue and not queue[0].live:
                    queue.popleft()
                    self._count -= 1
                if queue:
                    return queue[0]
                del principals[principal]
        return None

    def pop_head(self) -> Waiter | None:
        """Take the next live waiter out; its principal goes to the back of its lane."""
        waiter = self.head()
        if waiter is None:
            return None
        principals = self._lanes[waiter.caller.lane]
        principal = waiter.caller.principal
        queue = principals[principal]
        queue.popleft()
        self._count -= 1
        if queue:
            principals.move_to_end(principal)  # the next call of this lane is someone else's
        else:
            del principals[principal]
        return waiter

    def discard(self, waiter: Waiter) -> None:
        """Take ``waiter`` out of the queue, wherever it is (no-op when it is not queued)."""
        principals = self._lanes[waiter.caller.lane]
        queue = principals.get(waiter.caller.principal)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            self._count -= 1
            if not queue:
                del principals[waiter.caller.principal]

    def move(self, waiter: Waiter, caller: Caller) -> None:
        """Queue ``waiter`` again as ``caller`` (behind ``caller``'s principal's waiters)."""
        self.discard(waiter)
        waiter.caller = caller
        self.push(waiter)

    def lanes_waiting(self) -> set[Lane]:
        """The lanes with at least one waiter queued (live or not yet dropped)."""
        return {lane for lane, principals in self._lanes.items() if principals}

    def position(self, waiter: Waiter) -> int:
        """An estimate of how many calls go before ``waiter`` (for "try again in" messages)."""
        ahead = 0
        for lane, principals in self._lanes.items():
            if lane < waiter.caller.lane:
                ahead += sum(_live(queue) for queue in principals.values())
            elif lane == waiter.caller.lane:
                mine = [w for w in principals.get(waiter.caller.principal, ()) if w.live]
                index = next((i for i, w in enumerate(mine) if w is waiter), len(mine))
                # round robin: each other principal gets a turn per call of this one
                ahead += index + sum(
                    min(_live(queue), index + 1)
                    for name, queue in principals.items()
                    if name != waiter.caller.principal
                )
        return ahead


def _live(queue: deque[Waiter]) -> int:
    return sum(1 for waiter in queue if waiter.live)


class PrincipalSlots:
    """At most ``cap`` of one kind of long-running work (waits) at once per principal.

    Args:
        cap: how many each principal may run at once.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._running: Counter[str] = Counter()

    def running(self, principal: str) -> int:
        """How many ``principal`` runs now."""
        return self._running[principal]

    @contextlib.contextmanager
    def hold(self, principal: str) -> Generator[bool]:
        """Hold one of ``principal``'s slots while the block runs.

        Yields:
            False when every slot of ``principal`` is taken (the block should refuse).
        """
        if self._running[principal] >= self.cap:
            yield False
            return
        self._running[principal] += 1
        try:
            yield True
        finally:
            self._running[principal] -= 1
            if not self._running[principal]:
                del self._running[principal]
