"""Batches: the RequestIds of any text, and looking hundreds of them up at the bulk lane's pace.

:func:`read_batch` finds every RequestId in what people give (a log file, a pasted message,
standard input, binary junk) and says what it skipped and why. :func:`look_up_batch` looks
the ids up through the budget scheduler, yields each view as it completes and never loses
one: an id the budget could not serve in time is queued again, an id held back by an open
circuit waits for its probe (once: if LeadSquared still fails, the ids left fail fast), an
id an account does not know is tried on the next account, and an id whose lookup failed
gets a failed view with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from shared.errors import (
    CaptureStatusError,
    CircuitOpenError,
    RateLimitedError,
    RequestNotFoundError,
)
from shared.explain.redact import Redactor
from shared.guard.breaker import BreakerState
from shared.guard.lanes import Caller
from shared.lsq.client import CaptureStatusClient, LookupResult
from shared.lsq.ids import find_request_ids
from shared.service.views import LookupView, guarded_view, lookup_view

__all__ = ["BatchInput", "BatchProgress", "look_up_batch", "read_batch"]

#: the most characters of input read for ids (about 10 MB: 200,000 log lines)
MAX_BATCH_INPUT_CHARS = 10_000_000
#: what is not text: bytes that are not UTF-8 (decoded as lone surrogates) and control
#: characters other than tab and line breaks (NULs, and the separators str.splitlines
#: would take for line breaks)
_NOT_TEXT = re.compile("[\udc80-\udcff\x00-\x08\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class BatchInput:
    """The RequestIds found in a batch's input, and what was skipped.

    Attributes:
        ids: every distinct RequestId, lower-cased, in order of first appearance.
        lines: lines read.
        lines_without_id: lines (not blank) holding no RequestId at all.
        repeats: mentions of an id already found (each id is looked up once).
        undecodable: bytes (or characters) that were not text: not UTF-8, or control
            characters such as NUL (replaced, never looked at further).
        cut: characters past :data:`MAX_BATCH_INPUT_CHARS` that were not read.
    """

    ids: list[str]
    lines: int
    lines_without_id: int
    repeats: int
    undecodable: int = 0
    cut: int = 0

    def describe(self) -> str:
        """What was found and what was skipped, in one paragraph for people."""
        found = f"{len(self.ids)} distinct RequestId{'s' if len(self.ids) != 1 else ''}"
        parts = [f"Found {found} in {self.lines} line{'s' if self.lines != 1 else ''}."]
        skipped: list[str] = []
        if self.repeats:
            skipped.append(f"{self.repeats} repeated mention{'s' if self.repeats != 1 else ''}")
        if self.lines_without_id:
            skipped.append(
                f"{self.lines_without_id} line{'s' if self.lines_without_id != 1 else ''} "
                "without a RequestId"
            )
        if self.undecodable:
            plural = "s" if self.undecodable != 1 else ""
            skipped.append(f"{self.undecodable} byte{plural} of binary data")
        if self.cut:
            skipped.append(f"{self.cut:,} characters past the first {MAX_BATCH_INPUT_CHARS:,}")
        if skipped:
            parts.append("Skipped " + ", ".join(skipped) + ".")
        if not self.ids:
            parts.append(
                "A RequestId is a GUID such as c1d867a7-a325-4b68-954f-237dcd3c15e1 (the "
                "'RequestID' the async API returned); give a file or text that contains some."
            )
        return " ".join(parts)


def read_batch(data: str | bytes) -> BatchInput:
    """Every RequestId in ``data`` (text or raw bytes), with what was skipped and why."""
    # surrogateescape turns each byte that is not UTF-8 into one character: counted exactly
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    cut = max(len(text) - MAX_BATCH_INPUT_CHARS, 0)
    if cut:
        text = text[:MAX_BATCH_INPUT_CHARS]
    text, undecodable = _NOT_TEXT.subn("\ufffd", text)
    seen: dict[str, None] = {}
    mentions = lines = lines_without_id = 0
    for line in text.splitlines():
        lines += 1
        found = find_request_ids(line)
        if not found:
            lines_without_id += 1 if line.strip() else 0
            continue
        mentions += _mentions(line, found)
        for rid in found:
            seen.setdefault(rid, None)
    return BatchInput(
        ids=list(seen),
        lines=lines,
        lines_without_id=lines_without_id,
        repeats=mentions - len(seen),
        undecodable=undecodable,
        cut=cut,
    )


def _mentions(line: str, found: list[str]) -> int:
    """How many times the ids ``found`` in ``line`` occur in it (repeats included)."""
    lowered = line.lower()
    return sum(lowered.count(rid) for rid in found)


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """How far a batch has got.

    Attributes:
        done: ids answered (found or failed).
        total: ids in the batch.
        failed: ids whose lookup failed (not counting "not found").
        elapsed_seconds: since the batch started.
        pace_per_second: the budget's pace (calls per second the batch may expect at best).
    """

    done: int
    total: int
    failed: int
    elapsed_seconds: float
    pace_per_second: float

    @property
    def rate_per_second(self) -> float:
        """Ids answered per second so far."""
        return self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float:
        """Seconds until the batch ends, at the better known of the measured and budget pace."""
        left = self.total - self.done
        rate = self.rate_per_second if self.done >= 10 else self.pace_per_second
        return left / rate if rate > 0 else float("inf")


#: what a batch reports after each answer
OnBatchProgress = Callable[[BatchProgress], None]


async def look_up_batch(
    clients: Sequence[tuple[str, CaptureStatusClient, str | None]],
    ids: Sequence[str],
    *,
    caller: Caller,
    redactor: Redactor,
    fresh: bool = False,
    concurrency: int | None = None,
    on_progress: OnBatchProgress | None = None,
) -> AsyncIterator[LookupView]:
    """Look every id up and yield its view as it completes (completion order).

    Args:
        clients: ``(account name, client, app base URL)`` to ask, in order: an id the first
            account does not know is tried on the next one.
        ids: distinct RequestIds.
        caller: the lane and principal of the batch (normally the bulk lane).
        redactor: how views mask PII.
        fresh: ask LeadSquared afresh instead of answering from the cache.
        concurrency: lookups in flight at once (default: one window of the budget, enough
            to keep it busy and few enough that none waits past its deadline).
        on_progress: called after each answer.
    """
    name, first, _ = clients[0]
    budget = first.budget
    workers = concurrency or max(first.options.budget_calls, 1)
    pace = 1 / budget.spacing
    queue: asyncio.Queue[str] = asyncio.Queue()
    for rid in ids:
        queue.put_nowait(rid)
    answers: asyncio.Queue[LookupView | None] = asyncio.Queue()
    started = time.monotonic()
    # per account: the breaker opening this batch waits out (see ``one``)
    circuit_waits: dict[str, int] = {}

    async def one(rid: str) -> LookupView:
        last: LookupResult | None = None
        for account, client, app_base_url in clients:
            while True:
                try:
                    status = await client.get_status(rid, use_cache=not fresh, caller=caller)
                except RateLimitedError as error:
                    if error.http_status is None:  # our own budget: queue again, lose nothing
                        await asyncio.sleep(min(error.retry_after or budget.spacing, 5.0))
                        continue
                    last = LookupResult(query=rid, request_id=rid, error=error)
                    break
                except CircuitOpenError as error:
                    # Nothing was sent. A short spell of failures opened the circuit: wait
                    # it out rather than fail every id left at once. After a failed probe
                    # (it opened again) LeadSquared is still failing: the ids left fail fast.
                    opened = client.breaker.opened_total
                    if circuit_waits.setdefault(account, opened) == opened:
                        await asyncio.sleep(min(error.retry_after or 1.0, 5.0))
                        continue
                    view = lookup_view(LookupResult(query=rid, request_id=rid, error=error))
                    return view.model_copy(update={"account": account})
                except RequestNotFoundError as error:
                    last = LookupResult(query=rid, request_id=rid, error=error)
                    break  # perhaps another account's
                except CaptureStatusError as error:
                    view = lookup_view(LookupResult(query=rid, request_id=rid, error=error))
                    return view.model_copy(update={"account": account})
                if client.breaker.state is BreakerState.CLOSED:
                    circuit_waits.pop(account, None)  # a later spell is waited out again
                result = LookupResult(query=rid, request_id=status.request_id, status=status)
                shown = guarded_view(result, None, app_base_url, redactor)
                if isinstance(shown, LookupResult):  # its answer could not be shown
                    await client.forget(rid)
                    shown = lookup_view(shown)
                return shown.model_copy(update={"account": account})
            if not isinstance(last.error, RequestNotFoundError):
                return lookup_view(last).model_copy(update={"account": account})
        assert last is not None
        return lookup_view(last).model_copy(update={"account": name})

    async def worker() -> None:
        while not queue.empty():
            rid = queue.get_nowait()
            await answers.put(await one(rid))

    async def run() -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(workers, len(ids))):
                    group.create_task(worker(), name="batch-worker")
        finally:
            await answers.put(None)

    runner = asyncio.create_task(run(), name="batch")
    done = failed = 0
    try:
        while (view := await answers.get()) is not None:
            done += 1
            if view.error is not None and view.error.code != "not_found":
                failed += 1
            if on_progress is not None:
                on_progress(BatchProgress(done, len(ids), failed, time.monotonic() - started, pace))
            yield view
        await runner  # re-raise what stopped the workers, if anything
    finally:
        if not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
