"""What the lifespan hands every tool: the process's one client and this deployment's caps."""

from __future__ import annotations

from dataclasses import dataclass

from shared.client import CaptureStatusClient
from shared.redact import Redactor
from shared.waiting import PollSchedule

__all__ = ["ServerState"]


@dataclass(frozen=True, slots=True)
class ServerState:
    """Created once by the server's lifespan, shared by every request.

    Attributes:
        client: the process's one client (budget, cooldown and cache shared by all calls).
        redactor: masks PII in everything returned (``LSQ_MASK_PII``).
        app_base_url: the LeadSquared web app, for links (``LSQ_APP_BASE_URL``).
        max_ids: the most ids ``get_capture_statuses`` takes (``MCP_MAX_IDS``).
        wait_max_seconds: the longest ``wait_for_capture`` (``MCP_WAIT_MAX_SECONDS``).
        poll_schedule: the pauses between the checks of a wait.
        notice: a line added to every answer (demo mode), or ``None``.
    """

    client: CaptureStatusClient
    redactor: Redactor
    app_base_url: str | None
    max_ids: int
    wait_max_seconds: float
    poll_schedule: PollSchedule
    notice: str | None
