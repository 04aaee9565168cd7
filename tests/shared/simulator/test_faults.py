"""Switchable faults, in process and on a real socket."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.applications import Starlette

from shared.lsq.models import StatusKind, parse_status
from shared.simulator import (
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Fault,
    FaultKind,
    Simulator,
    serve_simulator,
)

from .conftest import API_KEY, CAPTURE_PATH, METRICS_PATH, STATUS_PATH

CREATED = SAMPLES["created"]


async def _status(
    client: httpx.AsyncClient, request_id: str = CREATED.request_id
) -> httpx.Response:
    return await client.get(STATUS_PATH, params={"RequestID": request_id})


@pytest.mark.parametrize("status_code", [500, 502, 503])
async def test_a_server_error_fault_answers_its_5xx(
    client: httpx.AsyncClient, simulator: Simulator, status_code: int
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=status_code))

    response = await _status(client)

    assert response.status_code == status_code
    assert response.json()
    assert simulator.calls[-1].fault is FaultKind.SERVER_ERROR


def test_a_server_error_fault_only_takes_500_502_or_503() -> None:
    with pytest.raises(ValidationError, match="server_error"):
        Fault(kind=FaultKind.SERVER_ERROR, status_code=404)


async def test_a_malformed_json_fault_answers_200_with_text_that_is_not_json(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.MALFORMED_JSON))

    response = await _status(client)

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_a_truncated_json_fault_answers_the_first_half_of_the_real_envelope(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    whole = (await _status(client)).content
    simulator.set_fault(Fault(kind=FaultKind.TRUNCATED_JSON))

    response = await _status(client)

    assert response.status_code == 200
    assert response.content == whole[: len(whole) // 2]
    assert response.text.startswith('{"RequestId":')
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_a_truncated_json_fault_on_an_unknown_id_still_cuts_an_envelope(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.TRUNCATED_JSON))

    response = await _status(client, UNKNOWN_REQUEST_ID)

    assert response.status_code == 200
    assert response.text.startswith('{"RequestId":"' + UNKNOWN_REQUEST_ID)
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_an_empty_body_fault_answers_200_with_nothing(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.EMPTY_BODY))

    response = await _status(client)

    assert response.status_code == 200
    assert response.content == b""


async def test_an_mx_throttle_fault_answers_200_with_a_rate_limit_exception(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.MX_THROTTLE))

    response = await _status(client)

    assert response.status_code == 200
    assert response.json() == {
        "Status": "Error",
        "ExceptionType": "MXAPIRateLimitExceededException",
        "ExceptionMessage": "API calls exceeded the limit of 25 in 5 second(s)",
    }


@pytest.mark.parametrize(("retry_after", "header"), [(None, None), (3, "3"), (1.5, "1.5")])
async def test_a_rate_limited_fault_answers_429_with_retry_after_only_when_given(
    client: httpx.AsyncClient, simulator: Simulator, retry_after: float | None, header: str | None
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.RATE_LIMITED, retry_after=retry_after))

    response = await _status(client)

    assert response.status_code == 429
    assert response.json()["Message"] == "API calls exceeded the limit of 25 in 5 second(s)"
    assert response.headers.get("retry-after") == header


async def test_an_unknown_status_fault_reports_its_status_text_in_the_real_envelope(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.UNKNOWN_STATUS, status_text="Throttled-Hold"))

    response = await _status(client)

    assert response.status_code == 200
    body = response.json()
    assert body["TaskStatus"]["Status"] == "Throttled-Hold"
    assert body["TaskStatus"]["RequestBody"] == CREATED.envelope["TaskStatus"]["RequestBody"]
    status = parse_status(body)
    assert status.status is StatusKind.UNKNOWN
    assert status.task.status_raw == "Throttled-Hold"


async def test_an_unknown_status_fault_answers_an_envelope_even_for_an_unknown_id(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.UNKNOWN_STATUS))

    response = await _status(client, UNKNOWN_REQUEST_ID)

    assert response.status_code == 200
    assert response.json()["RequestId"] == UNKNOWN_REQUEST_ID
    assert response.json()["TaskStatus"]["Status"] == "Paused"


async def test_an_unknown_status_fault_leaves_metrics_alone_and_waits_for_a_status_call(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.UNKNOWN_STATUS, remaining=1))

    metrics = await client.get(METRICS_PATH)
    status = await _status(client)

    assert metrics.json()["PendingMessages"] == 2
    assert status.json()["TaskStatus"]["Status"] == "Paused"
    assert simulator.fault is None


async def test_a_latency_fault_delays_the_answer_by_its_seconds(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.LATENCY, seconds=0.05))

    started = time.monotonic()
    response = await _status(client)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert response.json() == CREATED.envelope
    assert elapsed >= 0.05
    assert simulator.calls[-1].fault is FaultKind.LATENCY


async def test_a_connection_reset_fault_reaches_an_in_process_client_as_a_transport_error(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.CONNECTION_RESET, remaining=1))

    with pytest.raises(httpx.TransportError):
        await _status(client)

    assert simulator.calls[-1].status_code is None
    assert simulator.calls[-1].fault is FaultKind.CONNECTION_RESET
    assert (await _status(client)).status_code == 200


async def test_a_connection_reset_fault_cuts_a_real_socket_mid_response(
    app: Starlette, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.CONNECTION_RESET, remaining=1))

    async with (
        serve_simulator(app) as base_url,
        httpx.AsyncClient(base_url=base_url, headers={"x-api-key": API_KEY}) as client,
    ):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await _status(client)
        after = await _status(client)

    assert after.status_code == 200
    assert [call.status_code for call in simulator.calls] == [None, 200]


async def test_a_fault_with_remaining_applies_that_many_times_then_clears_itself(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=2))

    first = await _status(client)
    left_after_first = simulator.fault
    second = await _status(client)
    third = await _status(client)

    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert left_after_first is not None
    assert left_after_first.remaining == 1
    assert simulator.fault is None


async def test_a_fault_without_remaining_applies_until_cleared(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.EMPTY_BODY))

    codes = [len((await _status(client)).content) for _ in range(3)]
    simulator.set_fault(None)

    assert codes == [0, 0, 0]
    assert (await _status(client)).json() == CREATED.envelope


async def test_a_fault_scoped_to_a_path_leaves_other_paths_alone(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(
        Fault(kind=FaultKind.SERVER_ERROR, status_code=502, remaining=1, paths=(STATUS_PATH,))
    )

    metrics = await client.get(METRICS_PATH)
    fallback = await client.get(
        "/opportunity/capture/status", params={"RequestID": CREATED.request_id}
    )
    status = await _status(client)

    assert (metrics.status_code, fallback.status_code, status.status_code) == (200, 200, 502)


async def test_faults_come_after_the_key_check_and_do_not_spend_remaining_on_401(
    app: Starlette, client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, remaining=1))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim"
    ) as keyless:
        refused = await _status(keyless)

    faulted = await _status(client)

    assert refused.status_code == 401
    assert faulted.status_code == 500


async def test_a_replacing_fault_on_capture_queues_nothing(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=1))

    response = await client.post(CAPTURE_PATH, json={"LeadDetails": [], "Opportunity": {}})

    assert response.status_code == 503
    assert simulator.metrics()["PendingMessages"] == 2


async def test_faulted_calls_still_count_against_the_window(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR))
    for _ in range(25):
        await _status(client)

    over = await _status(client)

    assert over.status_code == 429
    assert over.headers.get("retry-after") is None
    assert simulator.max_calls_in_any_window(5.0) == 26  # the refused one was sent too


async def test_a_truncated_json_fault_on_capture_still_queues_the_request(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.set_fault(Fault(kind=FaultKind.TRUNCATED_JSON, remaining=1))

    response = await client.post(
        CAPTURE_PATH,
        json={"LeadDetails": [], "Opportunity": {"OpportunityEventCode": 1, "Fields": [1]}},
    )

    assert response.status_code == 200
    assert response.text.startswith('{"Status":"Request accepted')
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert simulator.metrics()["PendingMessages"] == 3


def _summary(response: httpx.Response) -> str:
    """The status code and what a client reads first: the Status, the exception, or neither."""
    try:
        body: Any = response.json()
    except json.JSONDecodeError:
        return f"{response.status_code} <not json>"
    answer: dict[str, Any] = body
    task: dict[str, Any] | None = answer.get("TaskStatus")
    read = task.get("Status") if task is not None else answer.get("ExceptionType")
    return f"{response.status_code} {read}"


async def test_every_fault_kind_is_observable_by_a_client_on_a_real_socket(
    app: Starlette, simulator: Simulator
) -> None:
    observed: dict[FaultKind, str] = {}
    async with (
        serve_simulator(app) as base_url,
        httpx.AsyncClient(base_url=base_url, headers={"x-api-key": API_KEY}) as client,
    ):
        for kind in FaultKind:
            simulator.set_fault(Fault(kind=kind, remaining=1, seconds=0.01, status_code=502))
            try:
                response = await _status(client)
            except httpx.TransportError as exc:
                observed[kind] = type(exc).__name__
                continue
            observed[kind] = _summary(response)

    assert observed == {
        FaultKind.LATENCY: "200 Success",
        FaultKind.SERVER_ERROR: "502 None",
        FaultKind.CONNECTION_RESET: "RemoteProtocolError",
        FaultKind.MALFORMED_JSON: "200 <not json>",
        FaultKind.TRUNCATED_JSON: "200 <not json>",
        FaultKind.EMPTY_BODY: "200 <not json>",
        FaultKind.MX_THROTTLE: "200 MXAPIRateLimitExceededException",
        FaultKind.RATE_LIMITED: "429 None",
        FaultKind.UNKNOWN_STATUS: "200 Paused",
    }
    assert simulator.fault is None
