"""The faults every front door is tested against, and what a person must be told for each.

One table, used by the CLI, Slack and MCP fault-matrix tests, so each front door answers the
same upstream trouble with the same substance (the wording comes from ``shared``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.simulator import Fault, FaultKind, Simulator, SimulatorConfig, create_app
from shared.simulator.server import serve_simulator

__all__ = ["FAULT_CASES", "FAULT_SETTINGS", "EndableAnswers", "FaultCase", "faulty_upstream"]


@dataclass(frozen=True)
class FaultCase:
    """One upstream fault and the answer it must produce."""

    name: str
    fault: Fault
    #: the error codes (``CaptureStatusError.code``) acceptable for it; empty when the lookup
    #: succeeds anyway
    codes: frozenset[str]
    #: text the answer must contain (case-insensitive)
    says: str


#: client settings for the matrix: short timeouts so that every case ends in seconds
FAULT_SETTINGS: dict[str, str] = {
    "LSQ_RETRY_ATTEMPTS": "2",
    "LSQ_READ_TIMEOUT_SECONDS": "0.5",
    "LSQ_CONNECT_TIMEOUT_SECONDS": "0.5",
    "LSQ_LOOKUP_DEADLINE_SECONDS": "2",
    "LSQ_THROTTLE_COOLDOWN_SECONDS": "5",
    "LSQ_BREAKER_FAILURES": "100",
}

FAULT_CASES: tuple[FaultCase, ...] = (
    FaultCase(
        "latency beyond the deadline",
        Fault(kind=FaultKind.LATENCY, seconds=10),
        frozenset({"timeout", "deadline_exceeded"}),
        "try again",
    ),
    *(
        FaultCase(
            f"HTTP {code}",
            Fault(kind=FaultKind.SERVER_ERROR, status_code=code),
            frozenset({"server_error"}),
            "try again",
        )
        for code in (500, 502, 503)
    ),
    FaultCase(
        "connection reset",
        Fault(kind=FaultKind.CONNECTION_RESET),
        frozenset({"connection"}),
        "try again",
    ),
    FaultCase(
        "truncated JSON",
        Fault(kind=FaultKind.TRUNCATED_JSON),
        frozenset({"malformed_response"}),
        "try again",
    ),
    FaultCase(
        "malformed JSON",
        Fault(kind=FaultKind.MALFORMED_JSON),
        frozenset({"malformed_response"}),
        "try again",
    ),
    FaultCase(
        "empty body",
        Fault(kind=FaultKind.EMPTY_BODY),
        frozenset({"malformed_response"}),
        "try again",
    ),
    FaultCase(
        "429 with Retry-After",
        Fault(kind=FaultKind.RATE_LIMITED, retry_after=30),
        frozenset({"rate_limited"}),
        "30 s",
    ),
    FaultCase(
        "429 without Retry-After",
        Fault(kind=FaultKind.RATE_LIMITED),
        frozenset({"rate_limited"}),
        "try again",
    ),
    FaultCase(
        "MX throttle in a 200",
        Fault(kind=FaultKind.MX_THROTTLE),
        frozenset({"rate_limited"}),
        "try again",
    ),
    FaultCase(
        "unknown status",
        Fault(kind=FaultKind.UNKNOWN_STATUS, status_text="Paused"),
        frozenset(),
        "Paused",
    ),
)


class EndableAnswers:
    """Wraps the simulator so that a test can end the answers a latency fault still delays.

    The delayed answer sleeps on long after the client gave up, and uvicorn would wait for it
    for its whole shutdown grace; ending it first lets each case stop at once. Like the
    Slack tests' ``Gate``, it wraps the simulator and imitates nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = asyncio.ensure_future(self._app(scope, receive, send))
        self._running.add(answer)
        try:
            await answer
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # uvicorn cancelled the request itself
        finally:
            self._running.discard(answer)

    def end_all(self) -> None:
        for answer in self._running:
            answer.cancel()


@contextlib.asynccontextmanager
async def faulty_upstream(api_key: str) -> AsyncGenerator[tuple[Simulator, str]]:
    """The simulator on a real loopback socket (its own rate window out of the way)."""
    app = create_app(SimulatorConfig(api_key=api_key, rate_limit_calls=10_000))
    answers = EndableAnswers(app)
    async with serve_simulator(answers) as url:
        yield app.state.simulator, url
        answers.end_all()
