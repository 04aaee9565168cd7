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
    "slack_ack",
    "mcp_cold_start",
    "memory",
)


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
            f"`make bench`.\n\n{table}"
        )
    return 1 if any(f.passed is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
