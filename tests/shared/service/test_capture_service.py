"""CaptureService on two accounts of one simulator: routing, caps, health and budgets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from shared.accounts import Account, Accounts
from shared.errors import InvalidRequestIdError, TooManyRequestIdsError, UnknownAccountError
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.simulator import SimulatedAccount, SimulatorConfig, create_app, sample_ids_for
from tests.conftest import SIM_KEY, fast_options

US_KEY = "us-simulator-key"


@pytest.fixture
async def service() -> AsyncIterator[CaptureService]:
    app = create_app(
        SimulatorConfig(api_key=SIM_KEY, accounts=(SimulatedAccount(name="us", api_key=US_KEY),))
    )
    keys = {"default": SIM_KEY, "us": US_KEY}
    accounts = Accounts(
        by_name={
            name: Account(name=name, base_url="http://sim", api_key=SecretStr(key))
            for name, key in keys.items()
        },
        default="default",
    )
    clients = {
        # the default account may make 2 calls per window, and gives up at once when out
        "default": CaptureStatusClient(
            fast_options(budget_calls=2, deadline_seconds=0.5),
            SecretStr(SIM_KEY),
            transport=in_process_transport(app),
        ),
        "us": CaptureStatusClient(
            fast_options(), SecretStr(US_KEY), transport=in_process_transport(app)
        ),
    }
    service = CaptureService(accounts, clients)
    yield service
    for client in clients.values():
        await client.aclose()


async def test_each_account_answers_for_its_own_requests(service: CaptureService) -> None:
    us_created = sample_ids_for("us")["created"]
    (on_default,) = await service.look_up([us_created])
    (on_us,) = await service.look_up([us_created], account="us")
    assert not on_default.found
    assert on_default.error is not None
    assert on_default.error.code == "not_found"
    assert on_default.account == "default"
    assert on_us.found
    assert on_us.account == "us"


async def test_a_burst_on_one_account_leaves_the_other_its_budget(
    service: CaptureService,
) -> None:
    ids = sample_ids_for("default")
    burst = await service.look_up(list(ids.values())[:4], account="default", fresh=True)
    refused = [view for view in burst if view.error is not None]
    assert refused, "the default account's budget of 2 calls should have run out"
    assert all(view.error and view.error.code == "rate_limited" for view in refused)
    us_views = await service.look_up(list(sample_ids_for("us").values())[:4], account="us")
    assert all(view.found for view in us_views)


async def test_queue_health_names_the_account(service: CaptureService) -> None:
    health = await service.queue_health(account="us")
    assert health.ok
    assert health.account == "us"
    assert health.reading


async def test_caps_and_empty_input_are_refused_before_any_call(
    service: CaptureService,
) -> None:
    calls = service.client().stats.upstream_calls
    with pytest.raises(TooManyRequestIdsError, match="at most 3"):
        await service.look_up(["a", "b", "c", "d"], max_ids=3)
    with pytest.raises(InvalidRequestIdError, match="No RequestIds"):
        await service.look_up([])
    assert service.client().stats.upstream_calls == calls


def test_ids_are_found_in_text_once_each(service: CaptureService) -> None:
    rid = sample_ids_for("default")["created"]
    assert service.request_ids_in(f"see {rid} and again {rid.upper()}") == [rid]
    with pytest.raises(InvalidRequestIdError):
        service.request_ids_in("no id here")


def test_an_account_outside_the_callers_reach_is_refused(service: CaptureService) -> None:
    assert service.account(None, allowed=["us"]).name == "us"
    with pytest.raises(UnknownAccountError, match="may not reach"):
        service.account("default", allowed=["us"])
    with pytest.raises(UnknownAccountError, match="no LeadSquared account called 'eu'"):
        service.account("eu")


def test_a_batch_without_any_id_is_refused_with_what_was_skipped(service: CaptureService) -> None:
    with pytest.raises(InvalidRequestIdError) as refused:
        service.batch_in(b"no ids here\nnor here\n")
    assert refused.value.message.startswith("No RequestId to triage. Found 0 distinct")
    assert "2 lines without a RequestId" in refused.value.message


def test_a_batch_over_the_front_doors_cap_says_how_to_do_more(service: CaptureService) -> None:
    text = "\n".join(list(sample_ids_for("default").values())[:3])
    assert len(service.batch_in(text, max_ids=3).ids) == 3
    with pytest.raises(TooManyRequestIdsError) as refused:
        service.batch_in(text, max_ids=2)
    assert "Found 3 distinct RequestIds; at most 2 are triaged" in refused.value.message
    assert "capture-status triage FILE" in refused.value.message


def test_a_batch_asks_the_named_account_or_the_default_first_then_the_others(
    service: CaptureService,
) -> None:
    assert service.accounts_to_try("us") == ["us"]
    assert service.accounts_to_try() == ["default", "us"]
    assert service.accounts_to_try(allowed=["us"]) == ["us"]  # the default is out of reach
    with pytest.raises(UnknownAccountError):
        service.accounts_to_try("us", allowed=["default"])
    with pytest.raises(UnknownAccountError):
        service.accounts_to_try(allowed=[])
