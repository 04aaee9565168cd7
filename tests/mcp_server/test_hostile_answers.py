"""MCP: hostile answers come back as inert structured data, each id on its own.

Tools and the request resource are called through the SDK's in-memory client on a server
whose simulator serves every answer of the adversarial corpus; everything the client receives
and everything logged at DEBUG is checked.
"""

from __future__ import annotations

import json
import logging

import pytest
from mcp import Client
from mcp.types import TextResourceContents
from starlette.applications import Starlette

from shared.simulator import SAMPLES, Simulator
from tests.hostile import HOSTILE_IDS, assert_inert, serve_hostile_answers
from tests.mcp_server.conftest import ServerFactory, make_settings, structured

#: characters of structured output one id may take
RESULT_LIMIT = 40_000
BATCH = 10


@pytest.fixture
def hostile_sim(sim_app: Starlette) -> Simulator:
    simulator: Simulator = sim_app.state.simulator
    serve_hostile_answers(simulator)
    return simulator


@pytest.mark.parametrize("name", list(HOSTILE_IDS))
async def test_each_hostile_answer_is_an_inert_tool_result_and_resource(
    name: str,
    hostile_sim: Simulator,
    make_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rid = HOSTILE_IDS[name]
    async with Client(make_server()) as client:
        result = await client.call_tool("get_capture_status", {"request_id": rid})
        read = await client.read_resource(f"capture://requests/{rid}")
    content = structured(result)
    assert content["request_id"] == rid
    assert_inert(json.dumps(content, ensure_ascii=False), limit=RESULT_LIMIT)
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    assert_inert(contents.text, limit=RESULT_LIMIT)
    assert_inert("\n".join(r.getMessage() for r in caplog.records))


async def test_a_batch_of_hostile_answers_answers_every_id(
    hostile_sim: Simulator, make_server: ServerFactory
) -> None:
    ids = list(HOSTILE_IDS.values())
    entries: list[dict[str, object]] = []
    async with Client(make_server()) as client:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            result = await client.call_tool("get_capture_statuses", {"request_ids": chunk})
            entries.extend(structured(result)["results"])
    assert [e["request_id"] for e in entries] == ids
    assert {e["result"] for e in entries} == {"found"}
    assert_inert(json.dumps(entries, ensure_ascii=False), limit=RESULT_LIMIT * len(ids))


async def test_an_unreadable_body_is_described_not_excerpted(make_server: ServerFactory) -> None:
    rid = SAMPLES["request_body_not_json"].request_id
    async with Client(make_server(settings=make_settings())) as client:
        content = structured(await client.call_tool("get_capture_status", {"request_id": rid}))
    summary = content["request_summary"]
    assert summary["raw_excerpt"] is None
    assert summary["unreadable_reason"].startswith("not valid JSON")
    assert "Ravi" not in json.dumps(content)
