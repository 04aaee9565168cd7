"""Batch lookups: each id answered once, faults cost only the ids they hit, cancelling stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence

import pytest

from shared.service.batch import BatchProgress
from shared.service.capture_service import CaptureService
from shared.service.triage import summarize, triage_row
from shared.service.views import LookupView
from shared.simulator import (
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Fault,
    FaultKind,
    Simulator,
    sample_ids_for,
)
from tests.fault_matrix import FAULT_CASES, FaultCase
from tests.shared.service.conftest import BULK, ServiceFactory, submitted_ids

#: faulty answers injected during each batch (one attempt per call: one id each)
HIT = 3


def _once_each(views: Sequence[LookupView], ids: Sequence[str]) -> None:
    """Every id of ``ids`` was answered exactly once, and nothing else was."""
    assert Counter(view.request_id for view in views) == Counter(ids)


def _batch_task() -> asyncio.Task[object]:
    (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "batch" and not t.done()]
    return task


async def test_every_id_is_answered_once_in_completion_order_with_progress(
    batch_service: CaptureService, batch_sim: Simulator
) -> None:
    ids = submitted_ids(batch_sim, 12)
    # the first call answers late: its id comes last, whatever its place in the input
    batch_sim.set_fault(Fault(kind=FaultKind.LATENCY, seconds=0.5, remaining=1))
    progress: list[BatchProgress] = []
    views: list[LookupView] = []
    async for view in batch_service.look_up_many(ids, caller=BULK, on_progress=progress.append):
        assert len(progress) == len(views) + 1  # reported before the view is handed out
        views.append(view)
    _once_each(views, ids)
    (late,) = [call.request_id for call in batch_sim.calls if call.fault is FaultKind.LATENCY]
    assert views[-1].request_id == late
    assert all(view.found and view.account == "default" for view in views)
    assert [p.done for p in progress] == list(range(1, len(ids) + 1))
    assert {p.total for p in progress} == {len(ids)}
    assert {p.failed for p in progress} == {0}
    assert progress[-1].eta_seconds == 0
    assert progress[-1].rate_per_second > 0
    assert len(batch_sim.calls) == len(ids)


async def test_failed_lookups_are_counted_in_the_progress(
    batch_service: CaptureService, batch_sim: Simulator
) -> None:
    ids = [*submitted_ids(batch_sim, 3), UNKNOWN_REQUEST_ID]
    batch_sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, remaining=2))
    progress: list[BatchProgress] = []
    views = [
        view
        async for view in batch_service.look_up_many(
            ids, caller=BULK, concurrency=1, on_progress=progress.append
        )
    ]
    _once_each(views, ids)
    # "not found" is an answer, not a failure
    assert progress[-1].failed == 2
    assert sum(1 for view in views if view.error and view.error.code == "not_found") == 1


async def test_a_mix_of_two_accounts_ids_is_answered_each_on_its_own_account(
    batch_service: CaptureService, batch_sim: Simulator
) -> None:
    ours = [SAMPLES["created"].request_id, SAMPLES["failure_invalid_input"].request_id]
    theirs = [sample_ids_for("us")["created"], sample_ids_for("us")["in_queue"]]
    ids = [ours[0], theirs[0], UNKNOWN_REQUEST_ID, ours[1], theirs[1]]
    views = [
        view
        async for view in batch_service.look_up_many(
            ids, caller=BULK, account="default", also_try=["us"]
        )
    ]
    _once_each(views, ids)
    by_id = {view.request_id: view for view in views}
    assert all(by_id[rid].found and by_id[rid].account == "default" for rid in ours)
    assert all(by_id[rid].found and by_id[rid].account == "us" for rid in theirs)
    missing = by_id[UNKNOWN_REQUEST_ID]
    assert missing.error is not None
    assert missing.error.code == "not_found"
    assert missing.account == "default"  # not found anywhere: said of the first account
    # the other account was asked only about ids the first did not know
    asked_us = {call.request_id for call in batch_sim.calls_of("us")}
    assert asked_us == {*theirs, UNKNOWN_REQUEST_ID}


async def test_without_also_try_the_other_accounts_ids_are_not_found(
    batch_service: CaptureService, batch_sim: Simulator
) -> None:
    ours = SAMPLES["created"].request_id
    theirs = sample_ids_for("us")["created"]
    views = [view async for view in batch_service.look_up_many([ours, theirs], caller=BULK)]
    by_id = {view.request_id: view for view in views}
    assert by_id[ours].found
    other = by_id[theirs]
    assert not other.found
    assert other.error is not None
    assert other.error.code == "not_found"
    assert other.account == "default"
    assert batch_sim.calls_of("us") == []


def test_the_fault_matrix_covers_every_fault_the_simulator_has() -> None:
    assert {case.fault.kind for case in FAULT_CASES} == set(FaultKind)


def _quick(case: FaultCase) -> tuple[Fault, str]:
    """The case's fault for ``HIT`` calls; a long Retry-After shortened to keep the test quick."""
    fault = case.fault.model_copy(update={"remaining": HIT})
    if fault.retry_after is not None and fault.retry_after > 1:
        return fault.model_copy(update={"retry_after": 1}), "1 s"
    return fault, case.says


@pytest.mark.parametrize("case", FAULT_CASES, ids=[case.name for case in FAULT_CASES])
async def test_each_upstream_fault_costs_only_the_ids_it_hit(
    make_service: ServiceFactory, batch_sim: Simulator, case: FaultCase
) -> None:
    service = make_service(deadline_seconds=1.0)
    ids = submitted_ids(batch_sim, 20)
    fault, says = _quick(case)

    def fault_after_five(progress: BatchProgress) -> None:
        if progress.done == 5:
            batch_sim.set_fault(fault)

    async with asyncio.timeout(30):
        views = [
            view
            async for view in service.look_up_many(ids, caller=BULK, on_progress=fault_after_five)
        ]
    _once_each(views, ids)
    answered = {
        call.request_id
        for call in batch_sim.calls
        if call.fault is None and call.status_code == 200
    }
    hit = set(ids) - answered  # (a delayed call given up on is never recorded)
    assert len(hit) == HIT
    assert batch_sim.fault is None  # every faulty answer was used
    rows = {row.request_id: row for row in map(triage_row, views)}
    for rid in set(ids) - hit:
        assert rows[rid].outcome == "created", rid
    for rid in hit:
        row = rows[rid]
        if case.codes:
            assert row.outcome == "lookup_failed", rid
            assert row.exception_type in case.codes, rid
            assert says.lower() in row.reason.lower(), row.reason
        else:  # answered anyway, with what LeadSquared said
            assert (row.outcome, row.status) == ("unknown", fault.status_text)
    summary = summarize(list(rows.values()))
    if case.codes:
        assert summary.by_outcome["lookup_failed"] == HIT
        groups = [g for g in summary.failures if g.outcome == "lookup_failed"]
        assert sum(g.count for g in groups) == HIT
        assert {g.exception_type for g in groups} <= case.codes
        assert set(summary.look_again) == hit
    assert summary.by_outcome["created"] == len(ids) - HIT


async def test_a_short_spell_of_failures_that_opens_the_circuit_costs_only_its_ids(
    make_service: ServiceFactory, batch_sim: Simulator
) -> None:
    service = make_service(breaker_failure_threshold=HIT, breaker_open_seconds=0.3)
    ids = submitted_ids(batch_sim, 20)

    def fail_after_five(progress: BatchProgress) -> None:
        if progress.done == 5:
            batch_sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=HIT))

    async with asyncio.timeout(30):
        views = [
            view
            async for view in service.look_up_many(ids, caller=BULK, on_progress=fail_after_five)
        ]
    _once_each(views, ids)
    assert service.client().breaker.opened_total == 1
    failed = [view for view in views if not view.found]
    assert len(failed) == HIT
    assert all(view.error and view.error.code == "server_error" for view in failed)


async def test_when_leadsquared_stays_down_the_batch_ends_with_every_id_told_why(
    make_service: ServiceFactory, batch_sim: Simulator
) -> None:
    service = make_service(breaker_failure_threshold=HIT, breaker_open_seconds=0.3)
    ids = submitted_ids(batch_sim, 20)

    def fail_after_five(progress: BatchProgress) -> None:
        if progress.done == 5:
            batch_sim.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503))

    async with asyncio.timeout(30):  # never a silent stall
        views = [
            view
            async for view in service.look_up_many(ids, caller=BULK, on_progress=fail_after_five)
        ]
    _once_each(views, ids)
    codes = Counter(view.error.code for view in views if view.error is not None)
    assert set(codes) <= {"server_error", "circuit_open"}
    assert codes["server_error"] >= HIT  # the spell, and the probe that found it still on
    assert codes.total() == len(ids) - 5
    # the circuit was waited out once, then the ids left failed fast instead of waiting more
    assert service.client().breaker.opened_total == 2


async def _refused_then_answered(service: CaptureService, sim: Simulator, *, within: float) -> None:
    ids = submitted_ids(sim, 7)
    async with asyncio.timeout(within):
        views = [view async for view in service.look_up_many(ids, caller=BULK, concurrency=7)]
    _once_each(views, ids)
    assert all(view.found for view in views)
    stats = service.client().stats
    assert stats.lookups_by_outcome["rate_limited"] > 0  # refusals happened, and cost nothing
    assert len(sim.calls) == len(ids)
    assert sim.count(status_code=429) == 0
    assert sim.max_calls_in_any_window(1.0, "default") <= 3


async def test_the_budget_refusing_in_time_queues_the_id_again_instead_of_failing_it(
    make_service: ServiceFactory, batch_sim: Simulator
) -> None:
    # 3 calls a second, a lookup gives up on the budget after 0.5 s and 7 ask at once: most
    # are refused at first, by our own budget (no call made)
    service = make_service(budget_calls=3, budget_guard_seconds=0.1, deadline_seconds=0.5)
    await _refused_then_answered(service, batch_sim, within=10)


async def test_refusals_shorter_than_the_pace_are_still_answered_in_the_end(
    make_service: ServiceFactory, batch_sim: Simulator
) -> None:
    # one call every 0.37 s for the bulk lane, and a lookup gives up on the budget at 0.2 s
    service = make_service(budget_calls=3, budget_guard_seconds=0.1, deadline_seconds=0.2)
    await _refused_then_answered(service, batch_sim, within=5)


async def _stops(task: asyncio.Task[object], sim: Simulator, service: CaptureService) -> None:
    """``task`` (a batch) ends soon, and no call reaches the simulator after it did."""
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done, "the batch went on after its consumer left"
    # nothing of the batch is left to make a call: no batch task and no caller queued
    left = [t for t in asyncio.all_tasks() if t.get_name().startswith("batch") and not t.done()]
    assert left == []
    assert service.client().budget.queued == 0
    calls, lookups = len(sim.calls), service.client().stats.lookups
    await asyncio.sleep(0)  # one more turn of the loop changes nothing either
    assert (len(sim.calls), service.client().stats.lookups) == (calls, lookups)


async def test_leaving_the_loop_stops_the_lookups(
    make_service: ServiceFactory, batch_sim: Simulator
) -> None:
    service = make_service(budget_calls=5)
    ids = submitted_ids(batch_sim, 40)
    seen = 0
    batch: asyncio.Task[object] | None = None
    async for _ in service.look_up_many(ids, caller=BULK, concurrency=3):
        seen += 1
        if seen == 3:
            batch = _batch_task()
            break
    assert batch is not None
    await _stops(batch, batch_sim, service)
    assert len(batch_sim.calls) <= 3 + 3  # those answered, and those in flight at most


async def test_cancelling_the_consumer_stops_the_lookups(
    make_service: ServiceFactory, batch_sim: Simulator
) -> None:
    service = make_service(budget_calls=5)
    ids = submitted_ids(batch_sim, 40)
    three = asyncio.Event()

    async def consume() -> None:
        seen = 0
        async for _ in service.look_up_many(ids, caller=BULK, concurrency=3):
            seen += 1
            if seen == 3:
                three.set()

    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(10):
        await three.wait()
    batch = _batch_task()
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
    await _stops(batch, batch_sim, service)
    assert len(batch_sim.calls) < len(ids)
