"""``python -m bench [NAME ...]``: run the benchmarks, print one table, write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import Figure, machine_description, print_figures

#: benchmark module names, in the order they run
BENCHMARKS = (
    "lookup_overhead",
    "calls_per_lookup",
    "sustained_budget",
    "burst",
    "account_independence",
    "triage",
    "triage_replicas",
    "slack_ack",
    "mcp_cold_start",
    "memory",
    "hostile_answers",
    "watches",
    "watch_load",
    "watch_replicas",
)


HOW_MEASURED = """How each is measured (`make bench` prints every figure and writes this file):

- **lookup overhead** (`bench/lookup_overhead.py`): 600 lookups of distinct finished
  captures (cache miss) against the simulator on a loopback socket, alternating call by call
  with a raw `httpx` GET + `json.loads` of the same endpoint; goal: median <= 1.3x raw.
- **calls per lookup** (`bench/calls_per_lookup.py`): 1,000 lookups over 100 ids (98 final,
  2 In-Queue), 20 at a time, at LeadSquared's real limit (25 per 5 s), against a naive client
  making one GET per lookup on a fresh simulator.
- **sustained budget** (`bench/sustained_budget.py`): 30 s of lookups of ids never seen
  before, 30 workers, at the real limit; "most calls sent" counts refused calls too.
- **burst** (`bench/burst.py`): 200 distinct lookups at once at the real limit.
- **account independence** (`bench/account_independence.py`): two accounts behind one
  `CaptureService`, each with its own simulator window (25 per 5 s) and default budget; 40
  fresh one-id lookups on B, one every 0.3 s, alone and then while A bursts 150 distinct
  lookups at once; goal: B's p99 under A's burst <= 250 ms, B's budget never waits, zero
  429s and at most 23 calls in any 5-s window per account, all of A's burst answered.
- **triage** (`bench/triage.py`): against the simulator at the real limit, every id distinct
  and final. (1) the real `capture-status triage` process over 1,000 ids, JSONL to a file;
  goal: wall time <= 1.05x the budget floor (1,000 / 23 per 5 s = 217.4 s), zero 429s, at
  most 23 calls in any 5-s window, peak RSS <= 150 MB. (2) a 300-id batch on the bulk lane
  while a Slack user and an assistant each look a fresh id up every 2 s (interactive lane);
  goals: their p99 (whole lookup) <= 5 s, the batch uses >= 80 % of the budget they leave.
  (3) two users' 100-id batches started together and a third user's lookup 10 s later;
  goals: the two finish within 10 % of each other, the third waits <= 5 s.
- **triage_replicas** (`bench/triage_replicas.py`): the same three with three processes
  sharing one account through a private `redis-server`: three CLI processes with a third of
  the 1,000 ids each; the batch, the Slack user and the assistant each in a process; each
  of the three users in a process (`python -m bench.lanes` runs one role per process).
- **slack_ack** (`bench/slack_ack.py`): a real `python -m bot` in HTTP mode, 200 signed slash
  commands at 50 per second, open loop, every lookup held 5 s upstream.
- **mcp cold start** (`bench/mcp_cold_start.py`): spawn → `tools/list` answered over stdio,
  median of 7, against a minimal one-tool `MCPServer` in the same run; per-call overhead
  through the SDK's in-memory client.
- **hostile answers** (`bench/hostile_answers.py`): every answer of the adversarial corpus
  (`shared/simulator/hostile.py`), from the envelope's text to the Slack message and the MCP
  result (decode, bound, explain, mask, render), median of 7 each; goal: the worst <= 50 ms.
  Then a real `python -m bot` and a real `python -m shared.simulator` (own processes): 150
  signed commands at 15 per second, each for a distinct id answered with a corpus answer;
  goal: ack p99 <= 100 ms, every command answered.
- **memory** (`bench/memory.py`): peak resident memory (`VmHWM`) of the bot under the Slack
  load and of the MCP server under 200 `get_capture_status` + 5 `wait_for_capture` calls.
- **watches** (`bench/watches.py`): 200 captures arrive at random moments of the first two
  minutes (each submitted, then looked up once by its watch: 400 calls LeadSquared's 25
  per 5 s could not take in much less than 80 s) on a simulated queue that serves the
  account's submissions in order, 24 a minute on average (`QueueModel`, random service
  times, seeded), so they finish 8 s to about 9 min after the first arrival. Each is
  watched right after it is submitted through the real `CaptureService.watch` and the real
  `Watcher` (SQLite store, default `WatchPolicy`, a recording notifier), while a person
  looks a fresh id up every 3 s (interactive lane), against the simulator on a loopback
  socket at the real limit. Every clock runs 10x (`bench/accelerated.py`: the simulator's,
  the store's and the watcher's; the budget's window, deadline, backoff, cache and refresh
  floor are divided by 10; its 0.15 s guard stays real, so the budget is 23 per 6.5
  simulated s instead of 5.15: harder, not easier); figures in simulated seconds. Goals:
  notice after the simulator shows final p50 <= 10 s, p95 <= 30 s; the watcher's calls
  (every status call of a watched id after its first lookup, and every metrics call) <=
  25 % of a naive poller checking each every 15 s from its watch until it sees it final
  (counted exactly from the finish times); 0 x 429 and <= 23 calls in any 5-s window;
  the person's lookups p99 <= 5 s (the whole lookup, so the budget wait is less). Two
  variants, one line each without goals: a queue that does not serve in order (each
  finishes at an independent random moment within 8 minutes of arriving), and the same
  captures arriving within one minute instead of two (the watches' own lookups then take
  three quarters of the budget for that minute: people first, the watch lane waits).
- **watch_load** (`bench/watch_load.py`): 10,000 watches active all the time for 12
  simulated hours (aged evenly at the start, one new every 4.32 s, each expiring after
  12 h; 80 % of the requests stay In-Queue, 20 % stay in ERROR, none becomes final). The
  12 hours are *replayed* with the watcher's own `WatchPolicy` and rules (head, routine
  floor recounted every 30 s, metrics every 30 s, a last check at expiry) at the
  production budget (23 calls per 5.15 s = 16,078 an hour), counting the calls each hour;
  goal: every hour, the watch lane's calls <= the budget minus that hour's interactive
  calls (the new watches' lookups). The last 10 minutes are then *run for real* from the
  replay's state (20,000 rows: 10,000 active, the ended ones the store keeps): the real
  `Watcher` and `CaptureService.watch` on the store, every check an HTTP request to the
  in-process simulator, on a virtual clock that jumps to the next due check (the budget
  scaled 1,000x so it never holds the watcher back); goal: the real watcher's calls within
  10 % of the replay's. Printed for SQLite and PostgreSQL (a database of the run's own):
  rows and bytes at the end (SQLite file with its WAL folded in; `pg_total_relation_size`
  of both tables) and each `claim_due`'s real time, p50 / p99.
- **watch_replicas** (`bench/watch_replicas.py`): two watcher replicas, each a real process
  (`python -m bench.watch_replica`: the core `Watcher`, default policy, leases of 60 s),
  on one PostgreSQL database (created for the run, migrated once, dropped after), the
  simulator on 127.0.0.1 (in-order queue, 45 a minute, 10 % through ERROR first). 500
  watches created by this process over 5 minutes; every simulated minute one replica in
  turn is killed with SIGKILL and started again; clocks 10x. Each replica's notifier
  appends every notice to its own file and fsyncs it before the watcher records it as sent,
  so what went out survives the kill and duplicates can be counted. Goals: 0 watches lost
  (final, never told), 0 duplicate notices. The Slack delivery path itself is covered by
  the bot's tests; the replicas here run the same store, leases and watcher.
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    args = parser.parse_args()
    names: list[str] = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    figures: list[Figure] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        run: Callable[[], Coroutine[Any, Any, list[Figure]]] = module.run
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(asyncio.run(run()))
    table = print_figures(figures)
    if not args.no_write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        Path("BENCHMARKS.md").write_text(
            f"# Benchmarks\n\nMeasured {stamp} on {machine_description()} with "
            f"`make bench`.\n\n{table}\n{HOW_MEASURED}"
        )
    return 1 if any(f.passed is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
