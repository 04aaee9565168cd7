"""Whose fair share of the budget a terminal's lookups count against: this process."""

from __future__ import annotations

import os

__all__ = ["PRINCIPAL"]

#: this CLI process among the budget's principals (``cli:<pid>``)
PRINCIPAL = f"cli:{os.getpid()}"
