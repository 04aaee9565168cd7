"""Interoperability: the official TypeScript MCP SDK drives ``python -m mcp_server`` (stdio).

``make test`` installs the pinned SDK with ``npm ci`` in this folder. The test is skipped
only when ``node`` itself is missing; a missing package is a failure that says what to run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from shared.simulator import SAMPLES

HERE = Path(__file__).parent
SCRIPT = HERE / "stdio_client.mjs"
SDK = HERE / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
CREATED = SAMPLES["created"].request_id
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed (the CI machine has it)")
async def test_the_typescript_sdk_lists_the_tools_and_gets_a_capture_status() -> None:
    assert NODE is not None
    assert SDK.exists(), "the TypeScript MCP SDK is missing: run `npm install` in tests/interop"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("LSQ_", "MCP_", "SLACK_", "REDIS_"))
    }
    env["PYTHON"] = sys.executable
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(SCRIPT),
        CREATED,
        cwd=HERE,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    seen = json.loads(out)

    assert seen["server"]["name"] == "capture-status"
    assert [tool["name"] for tool in seen["tools"]] == [
        "get_capture_status",
        "get_capture_statuses",
        "wait_for_capture",
        "get_capture_queue_metrics",
        "list_capture_accounts",
        "triage_capture_requests",
    ]
    for tool in seen["tools"]:
        assert tool["hasOutputSchema"]
        assert tool["annotations"] == {
            "readOnlyHint": True,
            "destructiveHint": False,
            "idempotentHint": True,
            "openWorldHint": True,
        }
    found = seen["found"]
    assert found["isError"] is False
    assert found["structuredContent"]["request_id"] == CREATED
    assert found["structuredContent"]["status"] == "Success"
    assert found["structuredContent"]["outcome"]["kind"] == "created"
    assert seen["invalid"]["isError"] is True
    assert "That is not a LeadSquared RequestId" in seen["invalid"]["text"]
    assert seen["resourceTemplates"] == ["capture://requests/{request_id}"]
