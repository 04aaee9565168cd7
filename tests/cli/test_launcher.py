"""`make run` (capture-status run): the demo starts, shows samples, serves, and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile

from shared.simulator import SAMPLES


async def test_the_demo_starts_labelled_serves_until_interrupted_and_stops_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "SLACK_", "MCP_"))}
    env["COLUMNS"] = "120"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "run",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while True:
                line = (await process.stdout.readline()).decode()
                assert line, "the product stopped before serving:\n" + "".join(seen)
                seen.append(line)
                if "Serving. Press Ctrl-C to stop." in line:
                    break
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            rest = (await process.stdout.read()).decode()
            code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = "".join(seen) + rest
    assert code == 0, output
    assert "DEMO MODE" in output
    assert "Simulator of the LeadSquared async API: http://127.0.0.1:" in output
    assert SAMPLES["created"].request_id in output
    assert "Opportunity created" in output
    assert "No request with this id was found" in output
    assert "serving the demo accounts default, us" in output
    assert "Capture Opportunities queue · account us" in output  # each account's queue
    assert "account us" in output  # a sample looked up on the second account
    assert "capture-status get --account us" in output
    assert "Stopped." in output
    assert "MCP server (streamable HTTP): python -m mcp_server" in output
    assert "stopped (exit status" not in output  # every front door ended cleanly
    assert "Traceback" not in output
