"""``python -m bench.watch_replica``: one watcher replica, a real OS process of its own.

It runs the core's ``Watcher`` on a shared store (PostgreSQL) against the simulator on a
socket, like a bot or MCP replica does, with a notifier that records every delivery
durably: one JSON line per notice appended to ``--deliveries`` and fsynced *before* the
watcher records it as sent, so a notice the process delivered is on disk even if it is
killed the next instant, and duplicates can be counted afterwards (``read_deliveries``).
The bot's Slack notifier is covered by the bot's own tests; this one stands in for it.

Its clock may run faster than real time (``--speed``, ``--origin``, ``--real-origin``: the
same three numbers in every process give the same clock; see ``bench/accelerated.py``).

It prints one JSON line per event on standard output, flushed at once, so that a test or a
benchmark can act at a chosen moment (kill it between checks, or while a check is held)::

    {"event": "ready", "owner": ...}
    {"event": "check", "request_id": ..., "status": "In-Queue", "ended": null}
    {"event": "delivered", "request_id": ..., "subscriber": 7}

It runs until killed, or SIGTERM (it finishes the step under way and gives its leases up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.accelerated import AcceleratedClock, watch_service
from shared.service.watch_schedule import WatchPolicy
from shared.service.watch_views import DeliveryResult, WatchNotice
from shared.service.watcher import WatchCheck, Watcher, replica_name
from shared.store import WatchStore, async_database_url, create_store_engine

__all__ = ["DurableNotifier", "main", "read_deliveries"]

#: the subscriber kind this notifier delivers
KIND = "bench"


@dataclass
class DurableNotifier:
    """Appends each notice to a file and fsyncs it before saying ``sent``."""

    path: Path
    owner: str
    clock: AcceleratedClock

    async def deliver(self, notice: WatchNotice) -> DeliveryResult:
        """Record the notice durably; ``sent`` once it is on disk."""
        line = json.dumps(
            {
                "subscriber": notice.subscriber_id,
                "request_id": notice.request_id,
                "end": notice.end,
                "status": notice.status,
                "owner": self.owner,
                "at": self.clock(),
            }
        )
        await asyncio.to_thread(_append, self.path, line)
        _emit(
            {
                "event": "delivered",
                "request_id": notice.request_id,
                "subscriber": notice.subscriber_id,
            }
        )
        return DeliveryResult("sent")


def _append(path: Path, line: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (line + "\n").encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_deliveries(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every delivery recorded in ``paths`` (a line cut by a kill is left out)."""
    found: list[dict[str, Any]] = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.watch_replica", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--simulator-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--deliveries", type=Path, required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--origin", type=float, default=None)
    parser.add_argument("--real-origin", type=float, default=None)
    parser.add_argument(
        "--budget-calls", type=int, default=None, help="this replica's calls per window"
    )
    parser.add_argument(
        "--policy",
        default="{}",
        help='WatchPolicy fields as JSON, e.g. {"lease_seconds": 2} (seconds of the clock)',
    )
    return parser


async def run(args: argparse.Namespace) -> None:
    """Watch until cancelled."""
    clock = (
        AcceleratedClock(args.speed, args.origin, args.real_origin)
        if args.origin is not None and args.real_origin is not None
        else AcceleratedClock.starting_now(args.speed)
    )
    policy = WatchPolicy(**json.loads(args.policy))
    store = WatchStore(create_store_engine(async_database_url(args.database_url)), clock=clock)
    options: dict[str, object] = {}
    if args.budget_calls is not None:
        options["budget_calls"] = args.budget_calls
    service = watch_service(
        args.simulator_url, args.api_key, store=store, clock=clock, policy=policy, **options
    )
    owner = replica_name()

    async def on_check(check: WatchCheck) -> None:
        status = check.status.task.status.value if check.status is not None else None
        _emit(
            {
                "event": "check",
                "request_id": check.request_id,
                "status": status,
                "ended": check.ended,
                "error": check.error.code if check.error is not None else None,
            }
        )

    watcher = Watcher(
        service,
        store,
        notifiers={KIND: DurableNotifier(args.deliveries, owner, clock)},
        policy=policy,
        owner=owner,
        clock=clock,
        speed=clock.speed,
        on_check=on_check,
    )
    # SIGTERM: finish the step under way, give the leases up, leave
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, watcher.stop)
    try:
        _emit({"event": "ready", "owner": owner, "pid": os.getpid()})
        await watcher.run()
    finally:
        await service.client().aclose()
        await store.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one replica until it is stopped."""
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
