"""One simulator, several LeadSquared accounts: each key has its own window and its own data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from shared.simulator import (
    SAMPLES,
    CallRecord,
    SimulatedAccount,
    Simulator,
    SimulatorConfig,
    UnknownAccountError,
    create_app,
    sample_ids_for,
)

from .conftest import (
    API_KEY,
    CAPTURE_PATH,
    METRICS_PATH,
    STATUS_PATH,
    FakeClock,
    in_process_client,
)

EU_KEY = "eu-key-4410"
EU_IDS = sample_ids_for("eu")
DEFAULT_IDS = sample_ids_for("default")
CAPTURE_BODY = {
    "LeadDetails": [{"Attribute": "EmailAddress", "Value": "lena.berg@example.se"}],
    "Opportunity": {"OpportunityEventCode": 12000, "Fields": [{"SchemaName": "mx_Custom_1"}]},
}


@pytest.fixture
def app(clock: FakeClock) -> Starlette:
    eu = SimulatedAccount(name="eu", api_key=EU_KEY)
    return create_app(SimulatorConfig(api_key=API_KEY, accounts=(eu,), clock=clock))


@pytest.fixture
def simulator(app: Starlette) -> Simulator:
    simulator: Simulator = app.state.simulator
    return simulator


@pytest.fixture
async def eu(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(app, api_key=EU_KEY) as client:
        yield client


async def _status(client: httpx.AsyncClient, request_id: str) -> httpx.Response:
    return await client.get(STATUS_PATH, params={"RequestID": request_id})


# ---- windows ------------------------------------------------------------------------------


async def test_a_burst_that_fills_one_accounts_window_never_throttles_the_other(
    client: httpx.AsyncClient, eu: httpx.AsyncClient, clock: FakeClock
) -> None:
    default_codes = [(await client.get(METRICS_PATH)).status_code for _ in range(30)]
    clock.advance(0.1)

    eu_codes = [(await eu.get(METRICS_PATH)).status_code for _ in range(25)]

    assert default_codes == [200] * 25 + [429] * 5
    assert eu_codes == [200] * 25
    assert (await eu.get(METRICS_PATH)).status_code == 429
    assert (await client.get(METRICS_PATH)).status_code == 429


def test_admit_keeps_one_window_per_key(simulator: Simulator) -> None:
    assert all(simulator.admit(API_KEY, 0.0) for _ in range(25))
    assert not simulator.admit(API_KEY, 0.0)

    assert all(simulator.admit(EU_KEY, 0.0) for _ in range(25))
    assert not simulator.admit(EU_KEY, 0.0)


async def test_max_calls_in_any_window_counts_one_account_or_all_together(
    client: httpx.AsyncClient, eu: httpx.AsyncClient, simulator: Simulator
) -> None:
    for _ in range(20):
        await client.get(METRICS_PATH)
    for _ in range(12):
        await eu.get(METRICS_PATH)

    assert simulator.max_calls_in_any_window(5.0, account="default") == 20
    assert simulator.max_calls_in_any_window(5.0, account="eu") == 12
    assert simulator.max_calls_in_any_window(5.0) == 32


# ---- data ---------------------------------------------------------------------------------


async def test_a_sample_of_the_second_account_is_found_with_its_key_and_unknown_with_the_other(
    client: httpx.AsyncClient, eu: httpx.AsyncClient
) -> None:
    found = await _status(eu, EU_IDS["created"])
    unknown = await _status(client, EU_IDS["created"])

    assert found.status_code == 200
    assert found.json()["RequestId"] == EU_IDS["created"]
    assert found.json()["TaskStatus"] == dict(SAMPLES["created"].envelope)["TaskStatus"]
    assert unknown.status_code == 404
    assert unknown.json() == {
        "Status": "Error",
        "Message": f"No request found for RequestID {EU_IDS['created']}",
    }


async def test_the_first_accounts_samples_keep_their_ids_and_are_unknown_to_the_second(
    client: httpx.AsyncClient, eu: httpx.AsyncClient
) -> None:
    for name, request_id in DEFAULT_IDS.items():
        assert request_id == SAMPLES[name].request_id
        assert (await _status(client, request_id)).status_code == 200
        assert (await _status(eu, request_id)).status_code == 404


async def test_a_capture_submitted_with_one_key_is_unknown_to_the_other(
    client: httpx.AsyncClient, eu: httpx.AsyncClient
) -> None:
    submitted = await eu.post(CAPTURE_PATH, json=CAPTURE_BODY)
    request_id = submitted.json()["RequestID"]

    assert (await _status(eu, request_id)).json()["TaskStatus"]["Status"] == "In-Queue"
    assert (await _status(client, request_id)).status_code == 404


async def test_the_same_lead_captured_in_two_accounts_is_new_in_each(
    simulator: Simulator, clock: FakeClock
) -> None:
    first_default = simulator.submit(CAPTURE_BODY)
    first_eu = simulator.submit(CAPTURE_BODY, "eu")
    again_eu = simulator.submit(CAPTURE_BODY, "eu")
    clock.advance(60)

    def unique(request_id: str, account: str) -> bool:
        envelope = simulator.status_envelope(request_id, account)
        assert envelope is not None
        return '"IsUnique":true' in envelope["TaskStatus"]["Message"]

    assert unique(first_default, "default")
    assert unique(first_eu, "eu")
    assert not unique(again_eu, "eu")


async def test_an_answer_put_for_one_account_is_served_to_that_account_only(
    client: httpx.AsyncClient, eu: httpx.AsyncClient
) -> None:
    request_id = "5d1f3c2a-7b4e-4f60-9a8d-2c3b4a5d6e7f"
    task = {"Status": "Success", "Message": None}

    put = await eu.put(f"/_sim/answers/{request_id}", params={"account": "eu"}, json=task)

    assert put.status_code == 200
    assert (await _status(eu, request_id)).json()["TaskStatus"] == task
    assert (await _status(client, request_id)).status_code == 404


async def test_an_answer_put_without_an_account_goes_to_the_first_account(
    client: httpx.AsyncClient, eu: httpx.AsyncClient
) -> None:
    request_id = "5d1f3c2a-7b4e-4f60-9a8d-2c3b4a5d6e7f"

    await client.put(f"/_sim/answers/{request_id}", json={"Status": "Success"})

    assert (await _status(client, request_id)).status_code == 200
    assert (await _status(eu, request_id)).status_code == 404


async def test_each_accounts_metrics_count_its_own_queue(
    client: httpx.AsyncClient, eu: httpx.AsyncClient
) -> None:
    seeded = (await client.get(METRICS_PATH)).json()["PendingMessages"]
    for _ in range(3):
        await eu.post(CAPTURE_PATH, json=CAPTURE_BODY)

    assert (await client.get(METRICS_PATH)).json()["PendingMessages"] == seeded
    assert (await eu.get(METRICS_PATH)).json()["PendingMessages"] == seeded + 3


# ---- keys ---------------------------------------------------------------------------------


async def test_a_key_of_no_account_is_refused_with_401_as_before(
    app: Starlette, simulator: Simulator
) -> None:
    async with in_process_client(app, api_key="stranger-key") as stranger:
        response = await _status(stranger, EU_IDS["created"])
    async with in_process_client(app, api_key=None) as keyless:
        keyless_response = await _status(keyless, DEFAULT_IDS["created"])

    assert response.status_code == keyless_response.status_code == 401
    assert response.json() == {"Status": "Error", "Message": "Invalid API key"}
    assert [call.account for call in simulator.calls] == [None, None]


# ---- control routes -----------------------------------------------------------------------


async def test_calls_note_the_account_whose_key_they_carried(
    client: httpx.AsyncClient, eu: httpx.AsyncClient, app: Starlette, simulator: Simulator
) -> None:
    await _status(client, DEFAULT_IDS["created"])
    await _status(eu, EU_IDS["created"])
    await eu.get(METRICS_PATH)
    async with in_process_client(app, api_key="stranger-key") as stranger:
        await stranger.get(METRICS_PATH)

    every = (await client.get("/_sim/calls")).json()
    of_eu = (await client.get("/_sim/calls", params={"account": "eu"})).json()

    assert [call["account"] for call in every] == ["default", "eu", "eu", None]
    assert [call["path"] for call in of_eu] == [STATUS_PATH, METRICS_PATH]
    assert simulator.count(account="eu") == 2
    assert simulator.count(account="default", status_code=200) == 1
    assert simulator.calls_of("default") == [simulator.calls[0]]


async def test_deleting_one_accounts_calls_keeps_the_others(
    client: httpx.AsyncClient, eu: httpx.AsyncClient, simulator: Simulator
) -> None:
    await client.get(METRICS_PATH)
    await eu.get(METRICS_PATH)

    await client.delete("/_sim/calls", params={"account": "eu"})

    assert [call.account for call in simulator.calls] == ["default"]


async def test_the_samples_route_lists_the_second_accounts_ids_when_asked(
    client: httpx.AsyncClient,
) -> None:
    first = (await client.get("/_sim/samples")).json()
    second = (await client.get("/_sim/samples", params={"account": "eu"})).json()

    assert {name: listed["request_id"] for name, listed in first.items()} == DEFAULT_IDS
    assert {name: listed["request_id"] for name, listed in second.items()} == EU_IDS
    assert {name: listed["description"] for name, listed in second.items()} == {
        name: sample.description for name, sample in SAMPLES.items()
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_sim/samples"),
        ("GET", "/_sim/calls"),
        ("DELETE", "/_sim/calls"),
        ("POST", "/_sim/reset"),
        ("PUT", "/_sim/answers/5d1f3c2a-7b4e-4f60-9a8d-2c3b4a5d6e7f"),
    ],
)
async def test_a_control_route_asked_about_an_unknown_account_answers_404_naming_the_known(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, params={"account": "mars"}, json={})

    assert response.status_code == 404
    assert response.json() == {
        "error": "no simulated account is named 'mars'; known: default, eu",
        "accounts": ["default", "eu"],
    }


async def test_resetting_one_account_forgets_its_data_window_and_calls_only(
    client: httpx.AsyncClient, eu: httpx.AsyncClient, simulator: Simulator
) -> None:
    default_id = (await client.post(CAPTURE_PATH, json=CAPTURE_BODY)).json()["RequestID"]
    eu_id = (await eu.post(CAPTURE_PATH, json=CAPTURE_BODY)).json()["RequestID"]
    for _ in range(24):
        await client.get(METRICS_PATH)
        await eu.get(METRICS_PATH)
    await client.post("/_sim/fault", json={"kind": "mx_throttle", "remaining": 99})

    reset = await client.post("/_sim/reset", params={"account": "eu"})

    assert reset.status_code == 200
    assert simulator.status_envelope(eu_id, "eu") is None
    assert simulator.status_envelope(default_id) is not None
    assert {call.account for call in simulator.calls} == {"default"}
    assert simulator.fault is not None  # shared by every account: kept
    await client.post("/_sim/fault", json=None)
    assert (await eu.get(METRICS_PATH)).status_code == 200
    assert (await client.get(METRICS_PATH)).status_code == 429


async def test_resetting_without_an_account_forgets_every_accounts_data(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    eu_id = simulator.submit(CAPTURE_BODY, "eu")
    default_id = simulator.submit(CAPTURE_BODY)

    await client.post("/_sim/reset")

    assert simulator.status_envelope(eu_id, "eu") is None
    assert simulator.status_envelope(default_id) is None
    assert simulator.status_envelope(EU_IDS["created"], "eu") is not None


async def test_a_fault_applies_to_whichever_account_calls(
    client: httpx.AsyncClient, eu: httpx.AsyncClient
) -> None:
    await client.post("/_sim/fault", json={"kind": "server_error", "status_code": 503})

    assert (await _status(eu, EU_IDS["created"])).status_code == 503
    assert (await _status(client, DEFAULT_IDS["created"])).status_code == 503


# ---- in process ---------------------------------------------------------------------------


def test_the_simulator_refuses_an_account_its_configuration_does_not_declare(
    simulator: Simulator,
) -> None:
    with pytest.raises(UnknownAccountError, match="'mars'") as raised:
        simulator.submit(CAPTURE_BODY, "mars")

    assert raised.value.known == ("default", "eu")
    with pytest.raises(UnknownAccountError):
        simulator.status_envelope(EU_IDS["created"], "mars")
    with pytest.raises(UnknownAccountError):
        simulator.calls_of("mars")


def test_a_call_record_without_an_account_is_one_no_key_selected() -> None:
    assert CallRecord(at=0.0, method="GET", path="/", status_code=401).account is None
