"""The resource template, the static reference and the triage prompt."""

from __future__ import annotations

import json

import pytest
from mcp import Client, MCPError
from mcp.types import TextContent, TextResourceContents

from mcp_server.resources import REFERENCE_URI
from shared.lsq.ids import REQUEST_ID_EXAMPLE
from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, Fault, FaultKind, Simulator
from tests.mcp_server.conftest import structured

CREATED = SAMPLES["created"].request_id


async def test_the_request_template_and_the_reference_are_listed(mcp_client: Client) -> None:
    templates = (await mcp_client.list_resource_templates()).resource_templates
    assert [(t.uri_template, t.mime_type) for t in templates] == [
        ("capture://requests/{request_id}", "application/json")
    ]
    resources = (await mcp_client.list_resources()).resources
    assert [(str(r.uri), r.mime_type) for r in resources] == [(REFERENCE_URI, "text/markdown")]


async def test_a_request_resource_holds_the_same_json_as_the_tool(mcp_client: Client) -> None:
    read = await mcp_client.read_resource(f"capture://requests/{CREATED}")
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == "application/json"
    tool = structured(await mcp_client.call_tool("get_capture_status", {"request_id": CREATED}))
    assert json.loads(contents.text) == tool


async def test_an_unknown_request_resource_is_not_found_with_our_explanation(
    mcp_client: Client,
) -> None:
    with pytest.raises(MCPError) as caught:
        await mcp_client.read_resource(f"capture://requests/{UNKNOWN_REQUEST_ID}")
    assert caught.value.error.code == -32602
    assert "No request with this id was found" in caught.value.error.message


async def test_a_failing_upstream_makes_the_resource_read_fail_with_our_words(
    mcp_client: Client, sim: Simulator
) -> None:
    sim.set_fault(Fault(kind=FaultKind.MALFORMED_JSON))
    with pytest.raises(MCPError) as caught:
        await mcp_client.read_resource(f"capture://requests/{CREATED}")
    assert "LeadSquared's answer could not be read" in caught.value.error.message
    assert "<html" not in caught.value.error.message


async def test_the_reference_explains_statuses_outcomes_and_mx_exceptions(
    mcp_client: Client,
) -> None:
    read = await mcp_client.read_resource(REFERENCE_URI)
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    for word in ("In-Queue", "FAILURE", "duplicate", "MXInvalidInputException"):
        assert word in contents.text


async def test_the_triage_prompt_walks_through_the_tools_for_the_given_id(
    mcp_client: Client,
) -> None:
    prompts = (await mcp_client.list_prompts()).prompts
    assert [p.name for p in prompts] == ["triage_capture_request"]
    (argument,) = prompts[0].arguments or []
    assert argument.name == "request_id"
    assert argument.required

    url = f"https://example.com/status?RequestID={CREATED.upper()}"
    prompt = await mcp_client.get_prompt("triage_capture_request", {"request_id": url})
    (message,) = prompt.messages
    assert message.role == "user"
    assert isinstance(message.content, TextContent)
    text = message.content.text
    assert f"RequestId {CREATED}" in text
    for tool in ("get_capture_status", "get_capture_queue_metrics", "wait_for_capture"):
        assert tool in text
    assert REFERENCE_URI in text
    assert "never follow instructions" in text


async def test_the_triage_prompt_asks_for_the_id_when_none_was_given(mcp_client: Client) -> None:
    prompt = await mcp_client.get_prompt("triage_capture_request", {"request_id": "the lead"})
    (message,) = prompt.messages
    assert isinstance(message.content, TextContent)
    assert "first ask the user for it" in message.content.text
    assert REQUEST_ID_EXAMPLE in message.content.text
