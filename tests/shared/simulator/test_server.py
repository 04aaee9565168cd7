"""Serving the simulator on a real loopback socket: async helper, thread, and ``-m``."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from shared.simulator import SAMPLES, SimulatorThread, serve_simulator, start_simulator_server

from .conftest import API_KEY, STATUS_PATH

REPO_ROOT = Path(__file__).resolve().parents[3]
CREATED_ID = SAMPLES["created"].request_id


async def test_serve_simulator_binds_a_free_loopback_port_and_serves_the_api(
    app: Starlette,
) -> None:
    async with serve_simulator(app) as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": API_KEY}) as client:
            response = await client.get(STATUS_PATH, params={"RequestID": CREATED_ID})

    assert response.status_code == 200
    assert response.json()["RequestId"] == CREATED_ID


async def test_serve_simulator_stops_the_server_on_exit(app: Starlette) -> None:
    async with serve_simulator(app) as base_url:
        pass

    async with httpx.AsyncClient(base_url=base_url) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/healthz")


async def test_two_simulators_run_side_by_side_on_different_ports() -> None:
    async with serve_simulator() as first, serve_simulator() as second:
        assert first != second


async def test_starting_on_a_taken_port_fails_instead_of_hanging(app: Starlette) -> None:
    async with serve_simulator(app) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="in use"):
            await start_simulator_server(app, port=port)


def test_a_simulator_thread_serves_synchronous_callers(app: Starlette) -> None:
    with SimulatorThread(app) as base_url, httpx.Client(base_url=base_url) as client:
        response = client.get("/healthz")

    assert response.json() == {"status": "ok"}


async def test_python_dash_m_serves_prints_the_url_and_sample_ids_and_stops_on_ctrl_c() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.simulator",
        "--port",
        "0",
        "--api-key",
        API_KEY,
        "--processing-seconds",
        "1",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Press Ctrl-C"):
            line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
            assert line, "the simulator exited before printing its banner"
            banner.append(line.decode().rstrip())
        match = re.search(r"at (http://127\.0\.0\.1:\d+)", banner[0])
        assert match is not None
        async with httpx.AsyncClient(
            base_url=match.group(1), headers={"x-api-key": API_KEY}
        ) as client:
            response = await client.get(STATUS_PATH, params={"RequestID": CREATED_ID})
    finally:
        process.send_signal(signal.SIGINT)
        returncode = await asyncio.wait_for(process.wait(), timeout=20)

    assert response.status_code == 200
    text = "\n".join(banner)
    assert all(sample.request_id in text for sample in SAMPLES.values())
    assert returncode in (0, 130)
