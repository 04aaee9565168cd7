"""LeadSquared's async API families, by the names settings, files and tools use.

Only ``opportunity_capture`` (Capture Opportunities) is looked up today; the other names are
accepted in ``LSQ_FAMILIES`` and the accounts file so that configuration written for them
stays valid (docs/leadsquared.md lists what is known of each family).
"""

from __future__ import annotations

__all__ = ["DEFAULT_FAMILIES", "FAMILY_NAMES", "OPPORTUNITY_CAPTURE"]

OPPORTUNITY_CAPTURE = "opportunity_capture"
#: every family of the async API, in the order of docs/leadsquared.md
FAMILY_NAMES: tuple[str, ...] = (
    OPPORTUNITY_CAPTURE,
    "lead_capture",
    "lead_update",
    "opportunity_update",
    "activity_create",
    "lead_activity_create",
    "call_log",
)
#: the families enabled when nothing says otherwise (v1's one family)
DEFAULT_FAMILIES: tuple[str, ...] = (OPPORTUNITY_CAPTURE,)
