"""Small helpers every benchmark shares: percentiles and a printed result table."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Figure", "machine_description", "percentile", "print_figures"]


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (nearest rank) of ``values``."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, its goal, and whether the goal is met."""

    benchmark: str
    name: str
    value: str
    goal: str = ""
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        """PASS, FAIL, or blank for figures without a goal."""
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "FAIL"


def print_figures(figures: Sequence[Figure]) -> str:
    """Print ``figures`` as a table and return the same text (markdown)."""
    header = "| benchmark | figure | value | goal | verdict |\n|---|---|---|---|---|\n"
    rows = "".join(
        f"| {f.benchmark} | {f.name} | {f.value} | {f.goal} | {f.verdict} |\n" for f in figures
    )
    table = header + rows
    print(table, flush=True)
    return table


def machine_description() -> str:
    """What this machine is, for the record next to the figures."""
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )
