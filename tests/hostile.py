"""What every surface must do with the adversarial corpus (:mod:`shared.simulator.hostile`).

Each hostile answer is served under its own RequestId; whatever a surface shows of it must be
inert: no lead details, no control or bidi characters, no traceback, and bounded in size.
"""

from __future__ import annotations

import re
import uuid

from shared.simulator import Simulator
from shared.simulator.hostile import HOSTILE_ANSWERS, HOSTILE_PII

__all__ = ["HOSTILE_IDS", "assert_inert", "serve_hostile_answers"]

#: one RequestId per hostile answer, by corpus name
HOSTILE_IDS = {
    name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"capture-status/hostile/{name}"))
    for name in HOSTILE_ANSWERS
}
# C0 (but tab and newline) and C1 controls, zero-width characters, bidi overrides and isolates
_UNSAFE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def serve_hostile_answers(simulator: Simulator) -> dict[str, str]:
    """Make ``simulator`` serve every hostile answer; returns their ids by corpus name."""
    for name, task in HOSTILE_ANSWERS.items():
        simulator.put_answer(HOSTILE_IDS[name], task)
    return HOSTILE_IDS


def assert_inert(shown: str, *, limit: int | None = None, controls: bool = True) -> None:
    """``shown`` holds no lead detail, no control character and no traceback.

    Args:
        shown: everything a surface showed (or logged) for hostile answers.
        limit: the most characters it may have.
        controls: check for control characters too (False for the core's views, which are
            data: each medium makes them inert when it renders them).
    """
    for detail in HOSTILE_PII:
        assert detail not in shown, f"{detail!r} was shown"
    unsafe = _UNSAFE.search(shown) if controls else None
    assert unsafe is None, f"unsafe character {unsafe.group(0)!r} was shown"
    assert "Traceback" not in shown
    if limit is not None:
        assert len(shown) <= limit, f"{len(shown):,} characters shown (at most {limit:,})"
