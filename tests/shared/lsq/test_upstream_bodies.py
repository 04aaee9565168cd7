"""Whatever LeadSquared sends back, the client yields a model or a typed error, nothing else."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from shared.errors import CaptureStatusError
from shared.lsq.client import CaptureStatusClient
from shared.lsq.models import CaptureStatus
from shared.simulator import SAMPLES
from tests.conftest import fast_options

REQUEST_ID = SAMPLES["created"].request_id

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
status_keys = st.sampled_from(
    ["TaskStatus", "taskstatus", "RequestId", "Status", "Message", "RequestBody", "x"]
)
envelope_like = st.dictionaries(
    status_keys,
    json_values
    | st.dictionaries(
        st.sampled_from(["Status", "status", "Message", "RequestBody", "TaskType", "StatusReason"]),
        json_values,
        max_size=6,
    ),
    max_size=4,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    envelope_like.map(lambda v: json.dumps(v).encode()),
)


def _lookup(body: bytes, status_code: int) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status_code, content=body)

    async def run() -> Any:
        client = CaptureStatusClient(
            fast_options(retry_attempts=1), SecretStr("k"), transport=httpx.MockTransport(handler)
        )
        async with client:
            try:
                return await client.get_status(REQUEST_ID)
            except CaptureStatusError as error:
                return error

    return asyncio.run(run())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, status_code=st.sampled_from([200, 200, 200, 400, 404, 429, 500, 502, 418]))
def test_any_body_yields_a_status_or_a_typed_error(body: bytes, status_code: int) -> None:
    outcome = _lookup(body, status_code)
    assert isinstance(outcome, CaptureStatus | CaptureStatusError)
    if isinstance(outcome, CaptureStatusError):
        assert outcome.message.strip()
