"""``python -m bot``: settings read once, clear start-up errors, modes, signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from bot.__main__ import check_slack_settings, serve
from bot.app import DEFAULT_WEB_API_URL, web_api_url
from bot.errors import StartupError
from bot.identity import keep_verifying
from shared.errors import ConfigurationError
from shared.infra.sockets import bind_socket
from shared.simulator import SAMPLES
from shared.simulator.server import serve_simulator
from shared.store import NewSubscriber, WatchKey
from tests.bot.conftest import bot_settings
from tests.bot.fake_slack import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    command_body,
    dm_channel,
    signed_headers,
)
from tests.conftest import SIM_KEY
from tests.databases import open_test_store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, DEFAULT_WEB_API_URL),
        ("https://slack-gov.com", "https://slack-gov.com/api/"),
        ("https://slack-gov.com/api", "https://slack-gov.com/api/"),
        ("http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api/"),
    ],
)
def test_slack_api_url_sets_the_web_api_base(given: str | None, expected: str) -> None:
    assert web_api_url(given) == expected


def test_http_mode_without_a_signing_secret_is_a_clear_error() -> None:
    settings = bot_settings("http://127.0.0.1:1", slack_signing_secret=None)
    with pytest.raises(ConfigurationError, match="SLACK_SIGNING_SECRET: is not set"):
        check_slack_settings(settings)


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = bot_settings(
        "http://127.0.0.1:1", slack_signing_secret=None, slack_app_token=SecretStr(APP_TOKEN)
    )
    check_slack_settings(settings)


def test_every_missing_setting_is_named_at_once() -> None:
    settings = bot_settings("http://127.0.0.1:1", slack_bot_token=None, slack_signing_secret=None)
    with pytest.raises(ConfigurationError) as caught:
        check_slack_settings(settings)
    assert "SLACK_BOT_TOKEN" in caught.value.message
    assert "SLACK_SIGNING_SECRET" in caught.value.message


def _database(folder: Path) -> SecretStr:
    return SecretStr(f"sqlite:///{folder / 'watches.db'}")


async def test_a_bot_token_slack_refuses_stops_the_start(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.refuse_tokens = True
    settings = bot_settings(fake_slack.url, database_url=_database(tmp_path))
    with pytest.raises(ConfigurationError, match=r"Slack refused SLACK_BOT_TOKEN \(invalid_auth\)"):
        await serve(settings, host="127.0.0.1", port=0, stop=asyncio.Event())


async def test_a_taken_port_is_a_clear_start_up_error(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{port}"):
            await serve(
                bot_settings(fake_slack.url, database_url=_database(tmp_path)),
                host="127.0.0.1",
                port=port,
                stop=asyncio.Event(),
            )
    finally:
        taken.close()


class FlakySlack:
    """``BotIdentity.verify`` as Slack answers it: unreachable ``failures`` times, then ``last``."""

    def __init__(self, failures: int, last: Exception | None = None) -> None:
        self.failures = failures
        self.last = last
        self.calls = 0

    async def verify(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise aiohttp.ClientConnectionError("unreachable")
        if self.last is not None:
            raise self.last


async def test_an_unchecked_token_is_checked_again_until_slack_answers() -> None:
    slack = FlakySlack(failures=3)
    async with asyncio.timeout(5):
        assert await keep_verifying(slack.verify, pauses=(0.0,))
    assert slack.calls == 4


async def test_a_token_slack_refuses_later_stops_the_checks_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = ConfigurationError("Slack refused SLACK_BOT_TOKEN (invalid_auth).")
    slack = FlakySlack(failures=1, last=refused)
    async with asyncio.timeout(5):
        assert not await keep_verifying(slack.verify, pauses=(0.0, 0.0))
    assert slack.calls == 2
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth). The app stays not ready." in caplog.text


async def _run_bot(env: Mapping[str, str], *args: str) -> asyncio.subprocess.Process:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "LSQ_", "MCP_", "DATABASE_", "WATCH"))
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tempfile.gettempdir(),  # no developer's .env there
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SLACK_BOT_TOKEN: is not set"),
        ({"SLACK_BOT_TOKEN": BOT_TOKEN}, "SLACK_SIGNING_SECRET: is not set"),
        ({"SLACK_BOT_TOKEN": BOT_TOKEN, "LSQ_REGION": "mars"}, "LSQ_REGION"),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": "http://slack.example.com/api"},
            "SLACK_API_URL: uses http:// for slack.example.com, so the Slack bot token would "
            "travel unencrypted",
        ),
    ],
)
async def test_the_process_exits_2_with_one_message_and_no_traceback(
    env: dict[str, str], message: str
) -> None:
    process = await _run_bot(env)
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate()
    assert process.returncode == 2
    text = stderr.decode()
    assert message in text
    assert "Traceback" not in text
    assert BOT_TOKEN not in text + stdout.decode()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("database", ["working", "down"])
async def test_the_process_serves_http_and_stops_cleanly_on_sigterm(
    fake_slack: FakeSlack, sim_app: Starlette, tmp_path: Path, database: str
) -> None:
    # with its database down, the app still answers lookups, says so once at start, and
    # /readyz says what it waits for
    database_url = (
        f"sqlite:///{tmp_path / 'watches.db'}"
        if database == "working"
        else f"postgresql://postgres@127.0.0.1:{_closed_port()}/watches"
    )
    if database == "working":  # a watch left by an earlier run, due now, already final
        async with open_test_store(database_url) as store:
            await store.add(
                WatchKey("default", "opportunity_capture", SAMPLES["created"].request_id),
                NewSubscriber(
                    kind="slack",
                    principal=f"slack:{TEAM_ID}:U0ALICE",
                    scope=f"slack:{TEAM_ID}",
                    target={"team": TEAM_ID, "user": "U0ALICE"},
                    target_key="dm",
                ),
                status="In-Queue",
                next_check_at=time.time() - 1,
                expires_at=time.time() + 3600,
            )
    async with serve_simulator(sim_app) as sim_url:
        process = await _run_bot(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": fake_slack.url,
                "LSQ_API_KEY": SIM_KEY,
                "LSQ_ASYNC_BASE_URL": sim_url,
                "DATABASE_URL": database_url,
            },
            "--port",
            "0",
        )
        assert process.stderr is not None
        url = None
        seen: list[str] = []
        async with asyncio.timeout(30):
            while url is None:
                line = (await process.stderr.readline()).decode()
                assert line, "the bot exited before listening"
                seen.append(line)
                found = re.search(r"listening on (http://\S+)/slack/events", line)
                url = found.group(1) if found else None
        store_lines = [line for line in seen if "watches are" in line]
        if database == "working":
            assert len(store_lines) == 1
            assert "watches are kept in the SQLite file" in store_lines[0]
        else:
            assert len(store_lines) == 1
            assert (
                "watches are unavailable until the PostgreSQL database watches" in (store_lines[0])
            )
        body = command_body(SAMPLES["created"].request_id, response_url=fake_slack.hook_url("proc"))
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            assert (await http.get("/healthz")).json() == {"status": "alive"}
            ready = await http.get("/readyz")
            if database == "working":
                assert ready.json() == {"status": "ready", "in_flight": 0}
            else:
                assert ready.status_code == 503
                assert ready.json()["waiting_for"] == {
                    "store": "the database of watches does not answer"
                }
            response = await http.post(
                "/slack/events",
                content=body,
                headers={
                    "content-type": "application/x-www-form-urlencoded",
                    **signed_headers(body),
                },
            )
            assert response.status_code == 200
        [answer] = await fake_slack.wait_for("/hooks/proc", within=10)
        assert SAMPLES["created"].request_id in answer.body["text"]
        if database == "working":  # the process's watcher checked it and told Alice
            [dm] = await fake_slack.wait_for("/api/chat.postMessage", within=15)
            assert dm.body["channel"] == dm_channel("U0ALICE")
            assert dm.body["text"].startswith(
                f"🔔 Capture request {SAMPLES['created'].request_id} is final: Success"
            )
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, rest = await process.communicate()
        assert process.returncode == 0
        assert "Traceback" not in rest.decode()
        assert BOT_TOKEN not in rest.decode()
