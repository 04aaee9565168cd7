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

from shared.simulator import (
    SAMPLES,
    SimulatedAccount,
    SimulatorConfig,
    SimulatorThread,
    sample_ids_for,
    serve_simulator,
    start_simulator_server,
)
from shared.simulator.__main__ import parse_options

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


async def _start_module(*args: str) -> tuple[asyncio.subprocess.Process, list[str], str]:
    """``python -m shared.simulator --port 0 *args``: the process, its banner, its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.simulator",
        "--port",
        "0",
        *args,
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
    except BaseException:
        await _stop_module(process)
        raise
    return process, banner, match.group(1)


async def _stop_module(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
    return await asyncio.wait_for(process.wait(), timeout=20)


async def test_python_dash_m_serves_prints_the_url_and_sample_ids_and_stops_on_ctrl_c() -> None:
    process, banner, base_url = await _start_module(
        "--api-key", API_KEY, "--processing-seconds", "1"
    )
    try:
        async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": API_KEY}) as client:
            response = await client.get(STATUS_PATH, params={"RequestID": CREATED_ID})
    finally:
        returncode = await _stop_module(process)

    assert response.status_code == 200
    text = "\n".join(banner)
    assert all(sample.request_id in text for sample in SAMPLES.values())
    assert returncode in (0, 130)


async def test_python_dash_m_serves_every_account_by_its_key_and_prints_no_key() -> None:
    eu_created = sample_ids_for("eu")["created"]
    process, banner, base_url = await _start_module(
        "--api-key", API_KEY, "--account", "eu=eu-key-5521"
    )
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            with_eu_key = await client.get(
                STATUS_PATH, params={"RequestID": eu_created}, headers={"x-api-key": "eu-key-5521"}
            )
            with_default_key = await client.get(
                STATUS_PATH, params={"RequestID": eu_created}, headers={"x-api-key": API_KEY}
            )
    finally:
        await _stop_module(process)

    assert with_eu_key.status_code == 200
    assert with_default_key.status_code == 404
    text = "\n".join(banner)
    assert "accounts: default, eu " in text
    assert all(request_id in text for request_id in sample_ids_for("eu").values())
    assert API_KEY not in text
    assert "eu-key-5521" not in text


def test_the_command_line_serves_one_default_account_unless_told_otherwise() -> None:
    options = parse_options([])

    assert (options.host, options.port) == ("127.0.0.1", 8765)
    assert options.config.all_accounts == SimulatorConfig().all_accounts


def test_each_account_option_adds_one_account_after_the_default_one() -> None:
    options = parse_options(
        ["--api-key", "main-key", "--account", "eu=eu-key", "--account", "us=k=with=equals"]
    )

    assert options.config.all_accounts == (
        SimulatedAccount(name="default", api_key="main-key"),
        SimulatedAccount(name="eu", api_key="eu-key"),
        SimulatedAccount(name="us", api_key="k=with=equals"),
    )
    assert options.config.account_for_key("k=with=equals") == "us"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--account", "eu-key"], "expected NAME=KEY"),
        (["--account", "eu="], "expected NAME=KEY"),
        (["--account", "=eu-key"], "expected NAME=KEY"),
        (["--account", "e u=eu-key"], "account 'e u'"),
        (["--account", "eu=a", "--account", "eu=b"], "account names must be unique: 'eu'"),
        (["--account", "default=other"], "'default' (the account of api_key) is used twice"),
        (["--account", "eu=demo-key"], "keys must be distinct: 'default' and 'eu'"),
    ],
)
def test_a_wrong_account_option_is_a_usage_error_that_never_shows_a_key(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options(arguments)

    error = capsys.readouterr().err
    assert exited.value.code == 2
    assert message in error
    assert "demo-key" not in error
    assert "eu-key" not in error
