"""Two LeadSquared accounts through the MCP front door: each token reaches its own accounts.

One simulator serves two accounts, ``default`` and ``us``, each known by its own key; the
server's :class:`CaptureService` holds one real client per account, built from an accounts
file (keys and tokens in environment variables). Over HTTP a real MCP client presents a
bearer token on a real loopback socket: ``ops`` reaches both accounts, ``us_only`` only
``us``, and a token of ``MCP_AUTH_TOKENS`` every account. In process (no token) every
account is reachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextResourceContents
from starlette.applications import Starlette

from mcp_server.auth import TokenGrant, http_tokens
from mcp_server.http_app import build_http_app
from mcp_server.server import build_server
from mcp_server.state import ServerState
from shared.accounts import load_accounts
from shared.guard.cache import CacheTtls
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.capture_service import CaptureService
from shared.settings import Settings
from shared.simulator import UNKNOWN_REQUEST_ID, SimulatedAccount, SimulatorConfig, create_app
from shared.simulator import sample_ids_for as sample_ids
from tests.conftest import SIM_KEY, FakeClock, fast_options
from tests.mcp_server.conftest import (
    FAST_SCHEDULE,
    PROCESSING_SECONDS,
    TOKEN,
    Opener,
    Progress,
    held_in_a_task,
    make_settings,
    structured,
    text_of,
)
from tests.mcp_server.test_http import MCP_HEADERS, mcp_over_http, post, serving

#: the simulator's key of account "us" (account "default" has SIM_KEY)
US_KEY = "sim-test-key-us-5937"
#: reaches both accounts ([mcp_tokens.ops])
OPS_TOKEN = "ops-token-0123456789abcdef"
#: reaches account "us" only ([mcp_tokens.us_only])
US_ONLY_TOKEN = "us-only-token-0123456789abc"
#: a request that exists only in account "us" (on "default" it is not found)
US_CREATED = sample_ids("us")["created"]
US_DUPLICATE = sample_ids("us")["duplicate"]
#: a request that exists only in account "default"
DEFAULT_CREATED = sample_ids("default")["created"]
ACCOUNTS_FILE = """\
[accounts.default]
base_url = "http://127.0.0.1:9"
api_key_env = "CAPTURE_TEST_KEY_DEFAULT"

[accounts.us]
base_url = "http://127.0.0.1:9"
api_key_env = "CAPTURE_TEST_KEY_US"

[routing]
default = "default"

[mcp_tokens.ops]
token_env = "CAPTURE_TEST_TOKEN_OPS"
accounts = ["default", "us"]

[mcp_tokens.us_only]
token_env = "CAPTURE_TEST_TOKEN_US_ONLY"
accounts = ["us"]
"""
TOOLS = (
    "get_capture_status",
    "get_capture_statuses",
    "wait_for_capture",
    "get_capture_queue_metrics",
    "triage_capture_requests",
)


@pytest.fixture
def sim_app(sim_clock: FakeClock) -> Starlette:
    """The simulator serving two accounts: "default" (SIM_KEY) and "us" (US_KEY)."""
    return create_app(
        SimulatorConfig(
            api_key=SIM_KEY,
            clock=sim_clock,
            processing_seconds=PROCESSING_SECONDS,
            accounts=(SimulatedAccount(name="us", api_key=US_KEY),),
        )
    )


@pytest.fixture
def accounts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The accounts file of both accounts and both tokens, its secrets in the environment."""
    monkeypatch.setenv("CAPTURE_TEST_KEY_DEFAULT", SIM_KEY)
    monkeypatch.setenv("CAPTURE_TEST_KEY_US", US_KEY)
    monkeypatch.setenv("CAPTURE_TEST_TOKEN_OPS", OPS_TOKEN)
    monkeypatch.setenv("CAPTURE_TEST_TOKEN_US_ONLY", US_ONLY_TOKEN)
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS_FILE, encoding="utf-8")
    return path


def settings_of(accounts_file: Path, **overrides: Any) -> Settings:
    """Settings naming the accounts file (no v1 key); v1's MCP_AUTH_TOKENS hold TOKEN."""
    values: dict[str, Any] = {
        "lsq_api_key": None,
        "lsq_async_base_url": None,
        "lsq_accounts_file": str(accounts_file),
    }
    values.update(overrides)
    return make_settings(**values)


@pytest.fixture
def settings(accounts_file: Path) -> Settings:
    return settings_of(accounts_file)


def two_account_opener(app: Starlette) -> Opener:
    """A real service over one client per account of the settings, all on simulator ``app``.

    Each client holds the key its account's ``api_key_env`` names, so the simulator answers
    it from that account's data.
    """

    @asynccontextmanager
    async def open_service(settings: Settings) -> AsyncGenerator[CaptureService]:
        accounts = load_accounts(settings)
        async with AsyncExitStack() as stack:
            clients = {
                name: await stack.enter_async_context(
                    CaptureStatusClient(
                        fast_options(cache_ttls=CacheTtls(pending=0.0)),
                        account.api_key,
                        transport=in_process_transport(app),
                    )
                )
                for name, account in accounts.by_name.items()
            }
            yield CaptureService(
                accounts, clients, mask_pii=settings.lsq_mask_pii, poll_schedule=FAST_SCHEDULE
            )

    return open_service


@pytest.fixture
def server(sim_app: Starlette, settings: Settings) -> MCPServer[ServerState]:
    return build_server(
        settings, service_opener=two_account_opener(sim_app), poll_schedule=FAST_SCHEDULE
    )


@pytest.fixture
async def base_url(server: MCPServer[ServerState], settings: Settings) -> AsyncIterator[str]:
    async with serving(build_http_app(server, settings), settings) as url:
        yield url


async def call(
    base_url: str, token: str, tool: str, arguments: dict[str, Any], *, era: str = "auto"
) -> CallToolResult:
    """One tool call over HTTP by a real MCP client presenting ``token``."""
    async with mcp_over_http(base_url, era=era, token=token) as client:
        return await client.call_tool(tool, arguments)


def refusal(result: CallToolResult) -> str:
    """The text of a tool call refused with our words."""
    assert result.is_error
    text = text_of(result)
    assert "Traceback" not in text
    return text


# --- a token reaching only "us" ------------------------------------------------------------


@pytest.mark.parametrize("era", ["auto", "legacy"], ids=["2026-sessionless", "legacy"])
async def test_a_token_reaching_only_us_is_answered_from_us_without_naming_an_account(
    base_url: str, era: str
) -> None:
    result = await call(
        base_url, US_ONLY_TOKEN, "get_capture_status", {"request_id": US_CREATED}, era=era
    )
    content = structured(result)
    assert content["account"] == "us"
    assert content["request_id"] == US_CREATED
    assert content["status"] == "Success"
    assert content["outcome"]["kind"] == "created"


async def test_a_token_reaching_only_us_is_refused_the_default_account_in_our_words(
    base_url: str,
) -> None:
    result = await call(
        base_url,
        US_ONLY_TOKEN,
        "get_capture_status",
        {"request_id": DEFAULT_CREATED, "account": "default"},
    )
    text = refusal(result)
    assert "may not reach a LeadSquared account called 'default'" in text
    assert "Use one of: us." in text


@pytest.mark.parametrize("tool", TOOLS)
async def test_every_tool_refuses_an_account_the_token_may_not_reach(
    base_url: str, tool: str
) -> None:
    arguments: dict[str, Any] = {
        "get_capture_status": {"request_id": DEFAULT_CREATED},
        "get_capture_statuses": {"request_ids": [DEFAULT_CREATED]},
        "wait_for_capture": {"request_id": DEFAULT_CREATED, "timeout_seconds": 0},
        "get_capture_queue_metrics": {},
        "triage_capture_requests": {"request_ids": [DEFAULT_CREATED]},
    }[tool]
    result = await call(base_url, US_ONLY_TOKEN, tool, {**arguments, "account": "default"})
    assert "may not reach a LeadSquared account called 'default'" in refusal(result)


async def test_a_token_reaching_only_us_gets_the_queue_metrics_of_us(base_url: str) -> None:
    content = structured(await call(base_url, US_ONLY_TOKEN, "get_capture_queue_metrics", {}))
    assert content["account"] == "us"
    assert content["pending_requests"] >= 0
    assert content["reading"]


async def test_a_token_reaching_only_us_may_name_us(base_url: str) -> None:
    result = await call(
        base_url, US_ONLY_TOKEN, "get_capture_status", {"request_id": US_CREATED, "account": "US"}
    )
    assert structured(result)["account"] == "us"


async def test_a_token_reaching_only_us_waits_on_us(base_url: str) -> None:
    result = await call(
        base_url,
        US_ONLY_TOKEN,
        "wait_for_capture",
        {"request_id": US_CREATED, "timeout_seconds": 5},
    )
    content = structured(result)
    assert content["finished"] is True
    assert content["capture"]["account"] == "us"


# --- a token reaching both accounts --------------------------------------------------------


async def test_a_token_reaching_both_accounts_is_answered_from_the_default_one_without_naming_one(
    base_url: str,
) -> None:
    found = structured(
        await call(base_url, OPS_TOKEN, "get_capture_status", {"request_id": DEFAULT_CREATED})
    )
    missing = await call(base_url, OPS_TOKEN, "get_capture_status", {"request_id": US_CREATED})
    assert found["account"] == "default"
    assert missing.is_error
    assert "No request with this id was found" in text_of(missing)


async def test_a_token_reaching_both_accounts_finds_the_us_request_when_it_names_us(
    base_url: str,
) -> None:
    result = await call(
        base_url, OPS_TOKEN, "get_capture_status", {"request_id": US_CREATED, "account": "us"}
    )
    content = structured(result)
    assert content["account"] == "us"
    assert content["outcome"]["kind"] == "created"


async def test_a_token_reaching_both_accounts_looks_up_several_us_requests_at_once(
    base_url: str,
) -> None:
    result = await call(
        base_url,
        OPS_TOKEN,
        "get_capture_statuses",
        {"request_ids": [US_CREATED, US_DUPLICATE], "account": "us"},
    )
    content = structured(result)
    assert content["account"] == "us"
    assert content["found"] == 2
    assert [entry["result"] for entry in content["results"]] == ["found", "found"]
    assert [entry["request_id"] for entry in content["results"]] == [US_CREATED, US_DUPLICATE]


async def test_a_token_reaching_both_accounts_gets_the_queue_metrics_of_either(
    base_url: str,
) -> None:
    default = structured(await call(base_url, OPS_TOKEN, "get_capture_queue_metrics", {}))
    us = structured(await call(base_url, OPS_TOKEN, "get_capture_queue_metrics", {"account": "us"}))
    assert (default["account"], us["account"]) == ("default", "us")


async def test_an_unknown_account_is_refused_with_the_list_of_accounts(base_url: str) -> None:
    result = await call(
        base_url, OPS_TOKEN, "get_capture_status", {"request_id": US_CREATED, "account": "mars"}
    )
    text = refusal(result)
    assert "There is no LeadSquared account called 'mars' here" in text
    assert "Use one of: default, us." in text


async def test_a_limited_token_learns_only_of_the_accounts_it_may_reach(base_url: str) -> None:
    result = await call(
        base_url, US_ONLY_TOKEN, "get_capture_status", {"request_id": US_CREATED, "account": "mars"}
    )
    text = refusal(result)
    assert "may not reach a LeadSquared account called 'mars'" in text
    assert "Use one of: us." in text
    assert "default" not in text


# --- triage across accounts ------------------------------------------------------------------


def triage_rows(result: CallToolResult) -> list[tuple[str, str, str]]:
    """(request id, account, outcome) of each row of a successful triage."""
    assert not result.is_error, text_of(result)
    content = result.structured_content
    assert content is not None
    return [(row["request_id"], row["account"], row["outcome"]) for row in content["rows"]]


async def test_a_token_reaching_both_accounts_triages_a_mixed_batch_each_id_on_its_account(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_server.core")
    ids = [DEFAULT_CREATED, US_CREATED, UNKNOWN_REQUEST_ID, US_DUPLICATE]
    progress = Progress()
    async with mcp_over_http(base_url, era="auto", token=OPS_TOKEN) as client:
        result = await client.call_tool(
            "triage_capture_requests", {"request_ids": ids}, progress_callback=progress
        )
        async with asyncio.timeout(10):  # over HTTP, notifications may trail the result
            await progress.reached(1).wait()
    assert triage_rows(result) == [
        (DEFAULT_CREATED, "default", "created"),
        (US_CREATED, "us", "created"),
        (UNKNOWN_REQUEST_ID, "default", "not_found"),
        (US_DUPLICATE, "us", "duplicate"),
    ]
    assert result.structured_content is not None
    assert result.structured_content["accounts"] == ["default", "us"]
    assert all(total == len(ids) for _, total, _ in progress.notes)
    assert any(
        r.getMessage().startswith("triage by mcp:ops: 4 of 4 ids looked up") for r in caplog.records
    )
    assert OPS_TOKEN not in caplog.text


async def test_a_triage_naming_an_account_asks_only_that_account(base_url: str) -> None:
    result = await call(
        base_url,
        OPS_TOKEN,
        "triage_capture_requests",
        {"text": f"{DEFAULT_CREATED} {US_CREATED}", "account": "us"},
    )
    assert triage_rows(result) == [
        (DEFAULT_CREATED, "us", "not_found"),
        (US_CREATED, "us", "created"),
    ]


async def test_a_token_reaching_only_us_triages_on_us_alone(base_url: str) -> None:
    result = await call(
        base_url,
        US_ONLY_TOKEN,
        "triage_capture_requests",
        {"request_ids": [DEFAULT_CREATED, US_CREATED]},
    )
    assert triage_rows(result) == [
        (DEFAULT_CREATED, "us", "not_found"),
        (US_CREATED, "us", "created"),
    ]
    assert result.structured_content is not None
    assert result.structured_content["accounts"] == ["us"]


# --- v1's MCP_AUTH_TOKENS next to the file -------------------------------------------------


@pytest.mark.parametrize("account", ["default", "us"])
async def test_a_token_of_mcp_auth_tokens_reaches_both_accounts(
    base_url: str, account: str
) -> None:
    request_id = sample_ids(account)["created"]
    result = await call(
        base_url, TOKEN, "get_capture_status", {"request_id": request_id, "account": account}
    )
    assert structured(result)["account"] == account


async def test_a_token_of_mcp_auth_tokens_without_an_account_is_answered_from_the_default_one(
    base_url: str,
) -> None:
    result = await call(base_url, TOKEN, "get_capture_status", {"request_id": DEFAULT_CREATED})
    assert structured(result)["account"] == "default"


@pytest.mark.parametrize(
    ("token", "status"),
    [(OPS_TOKEN, 200), (US_ONLY_TOKEN, 200), (TOKEN, 200), ("not-a-token-0123456789ab", 401)],
    ids=["ops", "us_only", "mcp_auth_tokens", "in-no-list"],
)
async def test_the_tokens_of_the_file_and_of_mcp_auth_tokens_are_accepted_and_no_other(
    base_url: str, token: str, status: int
) -> None:
    response = await post(base_url, headers={**MCP_HEADERS, "authorization": f"Bearer {token}"})
    assert response.status_code == status
    if status == 401:
        assert "[mcp_tokens]" in response.json()["error_description"]


# --- the request resource --------------------------------------------------------------------


async def read_over_http(base_url: str, token: str, request_id: str) -> dict[str, Any]:
    """The JSON of ``capture://requests/{request_id}`` read over HTTP with ``token``."""
    async with mcp_over_http(base_url, era="auto", token=token) as client:
        read = await client.read_resource(f"capture://requests/{request_id}")
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    loaded: dict[str, Any] = json.loads(contents.text)
    return loaded


async def test_the_request_resource_answers_from_the_only_account_a_token_reaches(
    base_url: str,
) -> None:
    content = await read_over_http(base_url, US_ONLY_TOKEN, US_CREATED)
    assert content["account"] == "us"
    assert content["request_id"] == US_CREATED
    with pytest.raises(MCPError) as caught:
        await read_over_http(base_url, US_ONLY_TOKEN, DEFAULT_CREATED)
    assert caught.value.error.code == -32602
    assert "No request with this id was found" in caught.value.error.message


async def test_the_request_resource_answers_from_the_default_account_for_a_token_reaching_both(
    base_url: str,
) -> None:
    content = await read_over_http(base_url, OPS_TOKEN, DEFAULT_CREATED)
    assert content["account"] == "default"
    with pytest.raises(MCPError) as caught:
        await read_over_http(base_url, OPS_TOKEN, US_CREATED)
    assert "No request with this id was found" in caught.value.error.message


# --- in process: no token, every account -----------------------------------------------------


@pytest.fixture
async def in_process(server: MCPServer[ServerState]) -> AsyncIterator[Client]:
    async with held_in_a_task(Client(server)) as client:
        yield client


async def test_in_process_every_account_is_reachable(in_process: Client) -> None:
    default = await in_process.call_tool("get_capture_status", {"request_id": DEFAULT_CREATED})
    us = await in_process.call_tool(
        "get_capture_status", {"request_id": US_CREATED, "account": "us"}
    )
    us_metrics = await in_process.call_tool("get_capture_queue_metrics", {"account": "us"})
    default_metrics = await in_process.call_tool(
        "get_capture_queue_metrics", {"account": "default"}
    )
    assert structured(default)["account"] == "default"
    assert structured(us)["account"] == "us"
    assert structured(us_metrics)["account"] == "us"
    assert structured(default_metrics)["account"] == "default"


async def test_in_process_an_unknown_account_is_refused_with_the_list_of_accounts(
    in_process: Client,
) -> None:
    result = await in_process.call_tool(
        "get_capture_statuses", {"request_ids": [US_CREATED], "account": "mars"}
    )
    assert "Use one of: default, us." in refusal(result)


async def test_in_process_the_request_resource_answers_from_the_default_account(
    in_process: Client,
) -> None:
    read = await in_process.read_resource(f"capture://requests/{DEFAULT_CREATED}")
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents)
    assert json.loads(contents.text)["account"] == "default"
    with pytest.raises(MCPError):
        await in_process.read_resource(f"capture://requests/{UNKNOWN_REQUEST_ID}")


# --- what the model reads ------------------------------------------------------------------


async def test_every_tool_takes_an_optional_account_and_names_no_account(
    base_url: str,
) -> None:
    async with mcp_over_http(base_url, era="auto", token=US_ONLY_TOKEN) as client:
        tools = (await client.list_tools()).tools
    assert sorted(tool.name for tool in tools) == sorted([*TOOLS, "list_capture_accounts"])
    for tool in tools:
        if tool.name == "list_capture_accounts":
            continue
        schema = tool.input_schema
        assert "account" in schema["properties"], tool.name
        assert "account" not in schema.get("required", []), tool.name
        assert tool.description is not None
        assert "list_capture_accounts" in tool.description, tool.name


@pytest.mark.parametrize(
    ("token", "listed", "default"),
    [(US_ONLY_TOKEN, ["us"], "us"), (OPS_TOKEN, ["default", "us"], "default")],
    ids=["us_only", "ops"],
)
async def test_list_capture_accounts_shows_only_what_the_token_reaches(
    base_url: str, token: str, listed: list[str], default: str
) -> None:
    content = structured(await call(base_url, token, "list_capture_accounts", {}))
    assert [entry["name"] for entry in content["accounts"]] == listed
    assert [entry["name"] for entry in content["accounts"] if entry["is_default"]] == [default]


def test_the_accounts_file_gives_each_token_its_name_and_accounts(settings: Settings) -> None:
    assert http_tokens(settings) == {
        OPS_TOKEN: TokenGrant("ops", ("default", "us")),
        US_ONLY_TOKEN: TokenGrant("us_only", ("us",)),
        TOKEN: TokenGrant("token-1", ("default", "us")),
    }


def test_without_mcp_auth_tokens_only_the_file_tokens_are_accepted(accounts_file: Path) -> None:
    settings = settings_of(accounts_file, mcp_auth_tokens=())
    assert set(http_tokens(settings)) == {OPS_TOKEN, US_ONLY_TOKEN}
