"""MCP server start-up and per-call overhead.

Cold start: spawn ``python -m mcp_server`` (stdio) and time until ``tools/list`` is answered
(initialize, initialized, tools/list), against ``bench/minimal_mcp_server.py``, a one-tool
``MCPServer`` measured in the same run, rounds interleaved so that drift affects both alike.
The minimal server is the floor the SDK's imports set. Goal: median <= 1.25 x the floor's.
capture-status answers ``tools/list`` before its core (HTTP client, budget, explanations)
has finished opening in the background, so the time to a first answered tool call is
printed too, next to the minimal server's first ``ping``.

Per-call overhead: ``get_capture_status`` through the SDK's in-memory client (both eras)
against the direct core calls it wraps, on a warm cache (so the simulator is out of the
figure): ``client.get_status`` (the lookup) and ``look_up`` (lookup + explanation).

Run alone with ``python -m bench.mcp_cold_start``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from pydantic import SecretStr

from bench.report import Figure, percentile, print_figures
from shared.lsq.client import CaptureStatusClient, ClientOptions
from shared.service.capture_service import CaptureService

NAME = "mcp cold start"
RUNS = 7
GOAL_RATIO = 1.25
CALLS = 300
BENCH_KEY = "bench-key"
MINIMAL_SERVER = Path(__file__).with_name("minimal_mcp_server.py")
#: a request id the in-process simulator knows (a final Success, cached after one call)
REQUEST_ID = "bed6195c-e5a7-41b6-805a-c0aebbfd06be"
_HANDSHAKE = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


def _tool_call(name: str, arguments: dict[str, str]) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def _env(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("LSQ_", "MCP_", "SLACK_", "REDIS_"))
    }
    return {**env, **extra}


async def spawn_until_answered(
    argv: Sequence[str],
    env: dict[str, str],
    cwd: str,
    *,
    call: dict[str, object] | None = None,
) -> float:
    """Seconds from spawning ``argv`` to its answer to ``tools/list`` (or to ``call``)."""
    messages = [*_HANDSHAKE, *([call] if call else [])]
    awaited = 3 if call else 2
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    # a client sends these back to back; the server answers them in order
    process.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    await process.stdin.drain()
    try:
        async with asyncio.timeout(60):
            while True:
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError(f"{argv} exited before answering request {awaited}")
                answer = json.loads(line)
                if answer.get("id") == awaited:
                    elapsed = time.perf_counter() - started
                    result = answer.get("result", {})
                    if not (result.get("tools") or (call and not result.get("isError"))):
                        raise RuntimeError(f"{argv} gave no usable answer: {answer}")
                    return elapsed
    finally:
        process.stdin.close()
        try:
            async with asyncio.timeout(30):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def cold_start_figures(runs: int = RUNS) -> list[Figure]:
    """Median spawn → tools/list of our server and of the minimal one, interleaved."""
    python = sys.executable
    ours = [python, "-m", "mcp_server"]
    minimal = [python, str(MINIMAL_SERVER)]
    # real settings (a key): the deployed path; LeadSquared is not called before tools/list
    real_env = _env(LSQ_API_KEY=BENCH_KEY, LSQ_ASYNC_BASE_URL="http://127.0.0.1:9")
    demo_env = _env()  # no key: the built-in simulator answers the tool call below
    status_call = _tool_call("get_capture_status", {"request_id": REQUEST_ID})
    ping_call = _tool_call("ping", {})
    ours_s: list[float] = []
    minimal_s: list[float] = []
    ours_call_s: list[float] = []
    minimal_call_s: list[float] = []
    with tempfile.TemporaryDirectory() as cwd:  # no .env file is read
        # one warm-up each: byte-compilation and the OS file cache are not start-up cost
        await spawn_until_answered(ours, real_env, cwd)
        await spawn_until_answered(minimal, demo_env, cwd)
        for round_ in range(runs):
            pair = [(ours, real_env, ours_s), (minimal, demo_env, minimal_s)]
            for argv, env, into in pair if round_ % 2 == 0 else reversed(pair):
                into.append(await spawn_until_answered(argv, env, cwd))
            ours_call_s.append(await spawn_until_answered(ours, demo_env, cwd, call=status_call))
            minimal_call_s.append(
                await spawn_until_answered(minimal, demo_env, cwd, call=ping_call)
            )
    ours_ms = statistics.median(ours_s) * 1000
    minimal_ms = statistics.median(minimal_s) * 1000
    ratio = ours_ms / minimal_ms
    return [
        Figure(NAME, f"capture-status, spawn → tools/list (median of {runs})", f"{ours_ms:.0f} ms"),
        Figure(NAME, f"minimal one-tool MCPServer (median of {runs})", f"{minimal_ms:.0f} ms"),
        Figure(
            NAME,
            "capture-status / minimal",
            f"{ratio:.2f}x",
            f"<= {GOAL_RATIO}x",
            ratio <= GOAL_RATIO,
        ),
        # the core opens in the background: the first tool call pays what tools/list did not
        Figure(
            NAME,
            "spawn → first get_capture_status answered (demo, median)",
            f"{statistics.median(ours_call_s) * 1000:.0f} ms",
        ),
        Figure(
            NAME,
            "spawn → first ping answered (minimal, median)",
            f"{statistics.median(minimal_call_s) * 1000:.0f} ms",
        ),
    ]


async def _timed(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def per_call_figures(calls: int = CALLS) -> list[Figure]:
    """get_capture_status through the in-memory client against the direct core calls."""
    from mcp import Client

    from mcp_server.server import build_server
    from shared.explain.redact import Redactor
    from shared.lsq.upstream import in_process_transport
    from shared.service.views import look_up
    from shared.settings import Settings
    from shared.simulator import SimulatorConfig, create_app

    app = create_app(SimulatorConfig(api_key=BENCH_KEY))
    options = ClientOptions(base_url="http://sim", budget_calls=100_000, budget_seconds=1)
    client = CaptureStatusClient(options, SecretStr(BENCH_KEY), transport=in_process_transport(app))
    values = {"lsq_api_key": SecretStr(BENCH_KEY), "lsq_async_base_url": "https://sim"}
    settings = Settings(_env_file=None, **values)  # pyright: ignore[reportCallIssue]
    redactor = Redactor(enabled=settings.lsq_mask_pii)
    args = {"request_id": REQUEST_ID}
    figures: list[Figure] = []
    async with client:
        await client.get_status(REQUEST_ID)  # warm the cache: every call below is a hit

        async def direct() -> object:
            return await client.get_status(REQUEST_ID)

        async def explained() -> object:
            return await look_up(client, [REQUEST_ID], redactor=redactor)

        direct_ms = await _timed(direct, calls)
        look_up_ms = await _timed(explained, calls)
        figures += [
            Figure(NAME, "direct client.get_status, warm cache (median)", _ms(direct_ms)),
            Figure(NAME, "direct look_up (status + explanation, median)", _ms(look_up_ms)),
        ]
        for mode, label in (("auto", "2026 in-memory"), ("legacy", "legacy in-memory")):
            server = build_server(settings, service_opener=lambda _: _Borrowed(client))
            async with Client(server, mode=mode) as mcp:

                async def tool() -> object:
                    result = await mcp.call_tool("get_capture_status", args)
                    assert not result.is_error
                    return result

                await _timed(tool, 20)  # warm-up
                tool_ms = await _timed(tool, calls)
            overhead = statistics.median(tool_ms) - statistics.median(direct_ms)
            over_look_up = statistics.median(tool_ms) - statistics.median(look_up_ms)
            figures += [
                Figure(
                    NAME,
                    f"get_capture_status via {label} client (median / p95)",
                    f"{_ms(tool_ms)} / {percentile(tool_ms, 95):.2f} ms",
                ),
                Figure(NAME, f"per-call overhead over get_status ({label})", f"{overhead:.2f} ms"),
                Figure(NAME, f"of which MCP and models ({label})", f"{over_look_up:.2f} ms"),
            ]
    return figures


class _Borrowed:
    """Hands the server a service over an already open client, never closing it (ours)."""

    def __init__(self, client: CaptureStatusClient) -> None:
        self._client = client

    async def __aenter__(self) -> CaptureService:
        return CaptureService.for_client(self._client)

    async def __aexit__(self, *_: object) -> None:
        return None


def _ms(samples: Sequence[float]) -> str:
    return f"{statistics.median(samples):.3f} ms"


async def run() -> list[Figure]:
    """Measure and return the figures (``python -m bench`` calls this)."""
    return [*await cold_start_figures(), *await per_call_figures()]


def main() -> int:
    """Print the figures and PASS/FAIL; exit 1 when the goal is missed."""
    logging.basicConfig(level=logging.WARNING)  # the servers' own start/stop lines are noise here
    figures = asyncio.run(run())
    print_figures(figures)
    failed = [f for f in figures if f.passed is False]
    print("FAIL" if failed else "PASS", f"(cold start goal: <= {GOAL_RATIO}x the minimal server)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
