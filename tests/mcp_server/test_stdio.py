"""``python -m mcp_server`` as a real subprocess: stdio protocol, logs, start-up failures."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

from shared.simulator import SAMPLES
from tests.mcp_server.conftest import Progress, held_in_a_task, structured

CREATED = SAMPLES["created"].request_id
#: a subprocess start plus the SDK's imports, on a slow CI machine
START_SECONDS = 60


def child_env(**extra: str) -> dict[str, str]:
    """The parent's environment without any capture-status setting, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("LSQ_", "MCP_", "SLACK_", "REDIS_"))
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


async def run_module(
    *args: str, env: dict[str, str], cwd: Path, stdin: bytes = b""
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcp_server",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    async with asyncio.timeout(START_SECONDS):
        out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_an_mcp_client_drives_the_stdio_server_in_a_subprocess(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server"], env=child_env(), cwd=tmp_path
    )
    async with asyncio.timeout(START_SECONDS):
        async with held_in_a_task(Client(params)) as client:
            tools = (await client.list_tools()).tools
            result = await client.call_tool("get_capture_status", {"request_id": CREATED})
    assert len(tools) == 6
    assert tools[0].name == "get_capture_status"
    content = structured(result)
    assert content["status"] == "Success"
    # no LSQ_API_KEY: the built-in simulator answers, and every answer says so
    assert content["notice"].startswith("Demo:")


async def test_a_triage_over_stdio_reports_progress_and_returns_its_rows(tmp_path: Path) -> None:
    ids = [CREATED, SAMPLES["failure_invalid_input"].request_id]
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server"], env=child_env(), cwd=tmp_path
    )
    progress = Progress()
    async with asyncio.timeout(START_SECONDS):
        async with held_in_a_task(Client(params)) as client:
            result = await client.call_tool(
                "triage_capture_requests",
                {"text": f"{ids[0]}\n{ids[1]}\n{ids[0]}"},
                progress_callback=progress,
            )
            await progress.reached(1).wait()  # notifications may trail the result
    assert not result.is_error
    content = result.structured_content
    assert content is not None
    assert [(row["request_id"], row["outcome"]) for row in content["rows"]] == [
        (ids[0], "created"),
        (ids[1], "failed"),
    ]
    assert content["summary"]["resubmit"] == [ids[1]]
    assert content["notice"].startswith("Demo:")
    assert [note[1] for note in progress.notes] == [2.0] * len(progress.notes)


async def test_stdout_carries_only_protocol_and_logs_go_to_stderr(tmp_path: Path) -> None:
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "get_capture_status", "arguments": {"request_id": CREATED}},
        },
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcp_server",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
        cwd=tmp_path,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
    await process.stdin.drain()
    async with asyncio.timeout(START_SECONDS):
        lines = [await process.stdout.readline() for _ in range(2)]
        # stdin closed: the server shuts down cleanly
        process.stdin.close()
        rest, err_bytes = await process.communicate()
    assert process.returncode == 0, err_bytes.decode()
    assert rest == b""
    answers = [json.loads(line) for line in lines]
    assert [answer["id"] for answer in answers] == [1, 2]
    assert answers[0]["result"]["serverInfo"]["name"] == "capture-status"
    assert answers[1]["result"]["structuredContent"]["status"] == "Success"
    err = err_bytes.decode()
    assert "DEMO MODE" in err
    assert "MCP server ready" in err
    assert "client closed" in err


async def test_an_invalid_setting_stops_the_start_with_exit_2_and_no_traceback(
    tmp_path: Path,
) -> None:
    code, out, err = await run_module(env=child_env(LSQ_RATE_LIMIT_CALLS="0"), cwd=tmp_path)
    assert code == 2
    assert out == ""
    assert "LSQ_RATE_LIMIT_CALLS" in err
    assert "Traceback" not in err


async def test_http_without_tokens_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    code, out, err = await run_module(
        "--transport", "http", "--port", "0", env=child_env(), cwd=tmp_path
    )
    assert code == 2
    assert out == ""
    assert "MCP_AUTH_TOKENS is empty" in err
    assert "stdio transport" in err
    assert "Traceback" not in err
