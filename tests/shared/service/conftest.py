"""Batches on two accounts of one in-process simulator, with budgets fast enough for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from shared.accounts import Account, Accounts
from shared.guard.lanes import Caller
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.simulator import SimulatedAccount, Simulator, SimulatorConfig, create_app
from tests.conftest import SIM_KEY, fast_options

US_KEY = "us-simulator-key"
#: the lane and principal of a batch from the terminal
BULK = Caller.bulk("cli:4242")
#: client settings for batches: 100 calls per second, one attempt per call (so that each
#: faulty answer costs exactly one id), a quick cooldown after a throttle
BATCH_OPTIONS: dict[str, Any] = {
    "budget_calls": 100,
    "budget_seconds": 1,
    "budget_guard_seconds": 0.05,
    "retry_attempts": 1,
    "deadline_seconds": 2.0,
    "throttle_cooldown_seconds": 0.2,
}

ServiceFactory = Callable[..., CaptureService]


@pytest.fixture
def batch_app() -> Starlette:
    """The simulator with a second account ("us"); its own windows out of the way."""
    return create_app(
        SimulatorConfig(
            api_key=SIM_KEY,
            accounts=(SimulatedAccount(name="us", api_key=US_KEY),),
            rate_limit_calls=10_000,
            rate_limit_seconds=1,
            processing_seconds=0,
        )
    )


@pytest.fixture
def batch_sim(batch_app: Starlette) -> Simulator:
    simulator: Simulator = batch_app.state.simulator
    return simulator


@pytest.fixture
async def make_service(batch_app: Starlette) -> AsyncIterator[ServiceFactory]:
    """Build services over both accounts (``default`` and ``us``); clients closed after."""
    made: list[CaptureStatusClient] = []

    def factory(**overrides: Any) -> CaptureService:
        keys = {"default": SIM_KEY, "us": US_KEY}
        accounts = Accounts(
            by_name={
                name: Account(name=name, base_url="http://sim", api_key=SecretStr(key))
                for name, key in keys.items()
            },
            default="default",
        )
        clients = {
            name: CaptureStatusClient(
                fast_options(**{**BATCH_OPTIONS, **overrides}),
                SecretStr(key),
                transport=in_process_transport(batch_app),
            )
            for name, key in keys.items()
        }
        made.extend(clients.values())
        return CaptureService(accounts, clients)

    yield factory
    for client in made:
        await client.aclose()


@pytest.fixture
def batch_service(make_service: ServiceFactory) -> CaptureService:
    return make_service()


def submitted_ids(sim: Simulator, count: int, *, account: str = "default") -> list[str]:
    """``count`` captures submitted to ``account``, each creating an opportunity at once."""
    return [
        sim.submit(
            {
                "LeadDetails": [
                    {"Attribute": "EmailAddress", "Value": f"batch{n}@example.com"},
                    {"Attribute": "SearchBy", "Value": "EmailAddress"},
                ],
                "Opportunity": {
                    "OpportunityEventCode": 12000,
                    "Fields": [{"SchemaName": "mx_Custom_1", "Value": f"Deal {n}"}],
                },
            },
            account=account,
        )
        for n in range(count)
    ]
