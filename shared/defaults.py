"""Every default value of capture-status, written once.

Settings (what an operator may change) and the options of the client, cache and HTTP edge
(what code and tests construct directly) both take their defaults from here, so the two
can never disagree.
"""

from __future__ import annotations

from typing import Final

# --- LeadSquared's documented limit (docs/leadsquared.md, "Rate limit") ------------------
RATE_LIMIT_CALLS: Final = 25
RATE_LIMIT_SECONDS: Final = 5
#: calls per window left to the account's other integrations
RATE_HEADROOM_CALLS: Final = 2
#: extra seconds each call counts in the window, for network jitter: half for the wait
#: between a grant and the send (a request sent later takes a fresh slot), half for the trip
#: to LeadSquared. The guard slows a batch by guard / window (here 3 %).
RATE_WINDOW_GUARD_SECONDS: Final = 0.15
#: replicas sharing the account: while Redis is unreachable each takes 1/N of the budget
FALLBACK_REPLICAS: Final = 4

# --- Capture Opportunities paths (docs/leadsquared.md, "Paths") --------------------------
STATUS_PATH: Final = "/opportunity/status"
STATUS_FALLBACK_PATH: Final = "/opportunity/capture/status"
METRICS_PATH: Final = "/opportunity/capture/metrics"

# --- one lookup ---------------------------------------------------------------------------
CONNECT_TIMEOUT_SECONDS: Final = 3.0
READ_TIMEOUT_SECONDS: Final = 10.0
WRITE_TIMEOUT_SECONDS: Final = 5.0
LOOKUP_DEADLINE_SECONDS: Final = 20.0
RETRY_ATTEMPTS: Final = 3
MAX_CONCURRENCY: Final = 8
#: ids one call of the client looks up at most (front doors may allow fewer)
MAX_IDS_PER_CALL: Final = 50
BREAKER_FAILURES: Final = 5
BREAKER_OPEN_SECONDS: Final = 30.0

# --- cache --------------------------------------------------------------------------------
CACHE_FINAL_TTL_SECONDS: Final = 86_400.0
CACHE_ERROR_STATUS_TTL_SECONDS: Final = 60.0
CACHE_PENDING_TTL_SECONDS: Final = 5.0
CACHE_MAX_ENTRIES: Final = 10_000
METRICS_TTL_SECONDS: Final = 5.0
#: waits (wait_for_capture, CLI watch) one principal may run at once
MAX_WAITS_PER_PRINCIPAL: Final = 5
#: a Refresh of an id fetched less than this long ago is answered from the cache
REFRESH_FLOOR_SECONDS: Final = 5.0


def budget_calls(limit_calls: int = RATE_LIMIT_CALLS, headroom: int = RATE_HEADROOM_CALLS) -> int:
    """Calls per window this deployment allows itself: the limit minus the headroom."""
    return limit_calls - headroom


# --- watches (docs/architecture.md, "Watches") --------------------------------------------
#: the store of watches: a SQLite file under the working directory (one process / machine)
DATABASE_URL: Final = "sqlite:///capture-status.db"
#: a watch gives up after this, saying "still not final" (LeadSquared retries for ~9 h)
WATCH_EXPIRY_HOURS: Final = 12.0
#: running watches one person (a Slack user, an MCP token) may hold
WATCHES_PER_USER: Final = 50
#: running watches one workspace (a Slack team, all MCP tokens together) may hold
WATCHES_PER_WORKSPACE: Final = 2000
