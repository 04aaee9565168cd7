"""What the benchmarks share: a simulator full of finished captures, served on loopback, and
a PostgreSQL database of their own."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from shared.simulator import Simulator, SimulatorConfig, create_app
from shared.store import async_database_url

__all__ = ["BENCH_KEY", "capture_body", "postgres_database", "simulator_with_captures"]

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


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncGenerator[str | None]:
    """A PostgreSQL database of this run's own (dropped after), or None without a server.

    The server is the one the tests use (``TEST_POSTGRES_ADMIN_URL``, else the one on
    127.0.0.1:5432 as user ``postgres``; see ``tests/databases.py``).
    """
    admin_url = os.environ.get(
        "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    admin = create_async_engine(async_database_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"capture_status_bench_{uuid.uuid4().hex[:12]}"
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:  # no server here
        await admin.dispose()
        yield None
        return
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
