"""The traffic of the lane benchmarks, one role per function, runnable in-process or as a
process of its own (``python -m bench.lanes`` reads a job as JSON on stdin and prints the
result as JSON), so that the same roles run in one process or in three sharing Redis.

Roles:

- ``batch``: looks ids up on the bulk lane (what ``capture-status triage`` and a Slack
  triage job do) and records when it started and ended;
- ``interactive``: one fresh lookup every ``interval`` seconds on the interactive lane (a
  person's Slack command, an assistant's ``get_capture_status``), recording each latency.

Times are wall-clock (``time.time``) so that processes can be compared; each role starts at
the job's ``start_at`` (a schedule agreed in advance, not a wait for something to happen).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from shared import Caller, CaptureService, load_settings, open_service

__all__ = ["BatchRun", "InteractiveRun", "run_batch", "run_interactive"]


@dataclass
class BatchRun:
    """What one batch did."""

    principal: str
    started: float = 0.0
    ended: float = 0.0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter[str])


@dataclass
class InteractiveRun:
    """What one person's (or assistant's) lookups waited."""

    principal: str
    latencies: list[float] = field(default_factory=list[float])
    errors: Counter[str] = field(default_factory=Counter[str])


async def _at(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        await asyncio.sleep(delay)  # the schedule agreed with the other roles


async def run_batch(
    service: CaptureService, ids: Sequence[str], principal: str, *, start_at: float = 0.0
) -> BatchRun:
    """Look ``ids`` up on the bulk lane as ``principal``."""
    await _at(start_at)
    run = BatchRun(principal=principal, started=time.time())
    async for view in service.look_up_many(ids, caller=Caller.bulk(principal)):
        if view.error is not None:
            run.errors[view.error.code] += 1
        else:
            run.answered += 1
    run.ended = time.time()
    return run


async def run_interactive(
    service: CaptureService,
    ids: Sequence[str],
    principal: str,
    *,
    interval: float,
    start_at: float = 0.0,
) -> InteractiveRun:
    """One lookup of the next id every ``interval`` seconds as ``principal``, open loop."""
    await _at(start_at)
    run = InteractiveRun(principal=principal)
    caller = Caller.interactive(principal)

    async def one(rid: str) -> None:
        started = time.perf_counter()
        (view,) = await service.look_up([rid], caller=caller)
        run.latencies.append(time.perf_counter() - started)
        if view.error is not None:
            run.errors[view.error.code] += 1

    tasks: list[asyncio.Task[None]] = []
    begin = time.time()
    for n, rid in enumerate(ids):
        await _at(begin + n * interval)
        tasks.append(asyncio.create_task(one(rid)))
    await asyncio.gather(*tasks)
    return run


async def _main() -> None:
    job: dict[str, Any] = json.loads(sys.stdin.read())
    settings = load_settings(_env_file=None)
    async with open_service(settings) as service:
        if job["role"] == "batch":
            result: Any = await run_batch(
                service, job["ids"], job["principal"], start_at=job["start_at"]
            )
        else:
            result = await run_interactive(
                service,
                job["ids"],
                job["principal"],
                interval=job["interval"],
                start_at=job["start_at"],
            )
    sys.stdout.write(json.dumps(asdict(result)) + "\n")


if __name__ == "__main__":
    asyncio.run(_main())
