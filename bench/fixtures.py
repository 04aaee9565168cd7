"""What the benchmarks share: a simulator full of finished captures, served on loopback."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from shared.simulator import Simulator, SimulatorConfig, create_app

__all__ = ["BENCH_KEY", "capture_body", "simulator_with_captures"]

BENCH_KEY = "bench-key"


def capture_body(n: int) -> dict[str, Any]:
    """A valid Capture Opportunities body for a distinct lead."""
    return {
        "LeadDetails": [
            {"Attribute": "EmailAddress", "Value": f"lead{n}@example.com"},
            {"Attribute": "SearchBy", "Value": "EmailAddress"},
        ],
        "Opportunity": {
            "OpportunityEventCode": 12000,
            "OpportunityNote": f"bench {n}",
            "Fields": [{"SchemaName": "mx_Custom_1", "Value": f"Deal {n}"}],
        },
    }


def simulator_with_captures(
    count: int, *, rate_limit_calls: int = 25, rate_limit_seconds: float = 5.0
) -> tuple[Starlette, Simulator, list[str]]:
    """A simulator app, its state, and ``count`` ids of captures that already finished."""
    app = create_app(
        SimulatorConfig(
            api_key=BENCH_KEY,
            rate_limit_calls=rate_limit_calls,
            rate_limit_seconds=rate_limit_seconds,
            processing_seconds=0,
        )
    )
    sim: Simulator = app.state.simulator
    return app, sim, [sim.submit(capture_body(n)) for n in range(count)]
