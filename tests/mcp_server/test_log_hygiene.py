"""The MCP server's logs, even at DEBUG over HTTP, carry no lead data and no URL credentials."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from mcp_server.http_app import build_http_app
from mcp_server.server import build_server
from shared.infra.logs import configure_logging
from shared.simulator import SAMPLES
from tests.mcp_server.conftest import (
    FAST_SCHEDULE,
    ClientOpenings,
    make_settings,
    simulator_opener,
    structured,
)
from tests.mcp_server.test_http import mcp_over_http, serving

#: its submitted body is not JSON, so the result quotes it (unmasked when masking is off)
NOT_JSON_BODY = SAMPLES["request_body_not_json"].request_id
EMAIL, PHONE = "ravi.kumar@example.in", "9812345678"
PASSWORD = "pa55-w0rd-in-the-url"


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The process's logging as ``LSQ_LOG_LEVEL=DEBUG`` sets it up, into a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("DEBUG", "text", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_a_tool_result_with_unmasked_lead_data_stays_out_of_debug_logs(
    debug_log: io.StringIO, sim_app: Starlette, openings: ClientOpenings
) -> None:
    settings = make_settings(lsq_mask_pii=False, lsq_log_level="DEBUG")
    server = build_server(
        settings,
        service_opener=simulator_opener(
            sim_app, openings, base_url=f"http://capture:{PASSWORD}@sim.example:8443"
        ),
        poll_schedule=FAST_SCHEDULE,
    )
    async with serving(build_http_app(server, settings)) as url:
        for era in ("auto", "legacy"):
            async with mcp_over_http(url, era=era) as client:
                result = await client.call_tool("get_capture_status", {"request_id": NOT_JSON_BODY})
            assert EMAIL in json.dumps(structured(result))  # unmasked, as configured
    logs = debug_log.getvalue()
    assert "DEBUG" in logs  # the run did log at DEBUG, so this test proves something
    assert "http://sim.example:8443" in logs  # the host is logged …
    assert PASSWORD not in logs  # … never the credentials in its URL
    assert "capture:" not in logs
    assert EMAIL not in logs
    assert PHONE not in logs
