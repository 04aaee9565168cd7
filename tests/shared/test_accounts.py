"""Accounts: v1's variables form ``default``; a TOML file gives several, routes and tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.accounts import DEFAULT_ACCOUNT, load_accounts, secret_values
from shared.errors import ConfigurationError, UnknownAccountError
from shared.lsq.hosts import REGION_HOSTS
from shared.settings import load_settings

KEYS = {"LSQ_API_KEY_INDIA": "india-key", "LSQ_API_KEY_US": "us-key"}
TWO_ACCOUNTS = """
[accounts.india]
region = "in21"
api_key_env = "LSQ_API_KEY_INDIA"
app_base_url = "https://in21.leadsquared.com"
families = ["opportunity_capture", "lead_capture"]

[accounts.us]
region = "us11"
api_key_env = "LSQ_API_KEY_US"

[routing]
default = "india"
slack_teams = { T0US000001 = "us" }
slack_channels = { C0US000002 = "us", C0IN000003 = "india" }

[mcp_tokens.ops]
token_env = "MCP_TOKEN_OPS"
accounts = ["us"]
"""


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LSQ_API_KEY", "LSQ_ACCOUNTS_FILE", "LSQ_REGION", "MCP_AUTH_TOKENS"):
        monkeypatch.delenv(name, raising=False)


def accounts_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_without_a_file_the_v1_variables_form_the_account_default() -> None:
    settings = load_settings(_env_file=None, lsq_api_key="k" * 20, lsq_region="in21")
    accounts = load_accounts(settings, environ={})
    assert accounts.names == (DEFAULT_ACCOUNT,)
    account = accounts.get()
    assert account.base_url == REGION_HOSTS["in21"]
    assert account.api_key.get_secret_value() == "k" * 20
    assert account.label == "LeadSquared region in21"
    assert not accounts.demo


def test_without_a_key_the_demo_has_two_simulated_accounts() -> None:
    accounts = load_accounts(load_settings(_env_file=None), environ={})
    assert accounts.names == (DEFAULT_ACCOUNT, "us")
    assert accounts.demo
    assert accounts.get("us").label == "the LeadSquared simulator (demo)"


def test_a_file_gives_each_account_its_host_key_app_and_families(tmp_path: Path) -> None:
    path = accounts_file(tmp_path, TWO_ACCOUNTS)
    env = {**KEYS, "MCP_TOKEN_OPS": "t" * 24}
    settings = load_settings(_env_file=None, lsq_accounts_file=path)
    accounts = load_accounts(settings, environ=env, with_tokens=True)
    assert accounts.names == ("india", "us")
    india, us = accounts.get("india"), accounts.get("US ")
    assert india.base_url == REGION_HOSTS["in21"]
    assert us.base_url == REGION_HOSTS["us11"]
    assert india.api_key.get_secret_value() == "india-key"
    assert india.app_base_url == "https://in21.leadsquared.com"
    assert india.families == ("opportunity_capture", "lead_capture")
    assert us.families == ("opportunity_capture",)
    assert set(accounts.secret_values()) >= {"india-key", "us-key", "t" * 24}


def test_slack_routing_prefers_the_channel_then_the_team_then_the_default(
    tmp_path: Path,
) -> None:
    path = accounts_file(tmp_path, TWO_ACCOUNTS)
    env = {**KEYS, "MCP_TOKEN_OPS": "t" * 24}
    accounts = load_accounts(load_settings(_env_file=None, lsq_accounts_file=path), environ=env)
    assert accounts.for_slack(team_id="T0US000001", channel_id="C0IN000003").name == "india"
    assert accounts.for_slack(team_id="T0US000001", channel_id="C0OTHER").name == "us"
    assert accounts.for_slack(team_id="T0OTHER", channel_id="C0US000002").name == "us"
    assert accounts.for_slack(team_id="T0OTHER", channel_id=None).name == "india"
    assert [a.name for a in accounts.reachable_from_slack("T0US000001")] == ["us", "india"]


def test_an_mcp_token_reaches_only_its_accounts(tmp_path: Path) -> None:
    path = accounts_file(tmp_path, TWO_ACCOUNTS)
    env = {**KEYS, "MCP_TOKEN_OPS": "t" * 24}
    accounts = load_accounts(load_settings(_env_file=None, lsq_accounts_file=path), environ=env)
    assert accounts.mcp_tokens == ()  # read only when asked for (the MCP server over HTTP)
    settings = load_settings(_env_file=None, lsq_accounts_file=path)
    [ops] = load_accounts(settings, environ=env, with_tokens=True).mcp_tokens
    assert (ops.name, ops.accounts) == ("ops", ("us",))
    assert ops.token.get_secret_value() == "t" * 24


def test_entry_points_without_mcp_tokens_neither_need_nor_hold_them(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None, lsq_accounts_file=accounts_file(tmp_path, TWO_ACCOUNTS)
    )
    accounts = load_accounts(settings, environ=KEYS)  # MCP_TOKEN_OPS is not set: no problem
    assert accounts.names == ("india", "us")
    with pytest.raises(ConfigurationError, match="MCP_TOKEN_OPS is not set"):
        load_accounts(settings, environ=KEYS, with_tokens=True)


def test_a_key_pasted_where_its_variable_belongs_is_never_repeated(tmp_path: Path) -> None:
    pasted = "u$r4a9c1d2e3f4a5b6c7d8e9f0a1b2c3d4"
    text = TWO_ACCOUNTS.replace('api_key_env = "LSQ_API_KEY_US"', f'api_key_env = "{pasted}"')
    settings = load_settings(_env_file=None, lsq_accounts_file=accounts_file(tmp_path, text))
    with pytest.raises(ConfigurationError) as caught:
        load_accounts(settings, environ=KEYS)
    assert "not an environment variable name" in caught.value.message
    assert "Keys never go in the file" in caught.value.message
    assert pasted not in caught.value.message


def test_key_variables_are_read_from_the_dotenv_file_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "LSQ_API_KEY_INDIA=india-from-dotenv\nLSQ_API_KEY_US=us-from-dotenv\n", encoding="utf-8"
    )
    monkeypatch.setenv("LSQ_API_KEY_US", "us-from-environment")
    settings = load_settings(
        _env_file=None, lsq_accounts_file=accounts_file(tmp_path, TWO_ACCOUNTS)
    )
    accounts = load_accounts(settings)
    assert accounts.get("india").api_key.get_secret_value() == "india-from-dotenv"
    assert accounts.get("us").api_key.get_secret_value() == "us-from-environment"


def test_an_unknown_account_name_says_which_exist() -> None:
    accounts = load_accounts(load_settings(_env_file=None), environ={})
    with pytest.raises(UnknownAccountError, match=r"'mars'.*default, us"):
        accounts.get("mars")


def test_every_problem_of_the_file_is_named_at_once(tmp_path: Path) -> None:
    broken = TWO_ACCOUNTS.replace('default = "india"', 'default = "europe"').replace(
        'accounts = ["us"]', 'accounts = ["us", "mars"]'
    )
    path = accounts_file(tmp_path, broken)
    settings = load_settings(_env_file=None, lsq_accounts_file=path)
    with pytest.raises(ConfigurationError) as caught:
        load_accounts(settings, environ={"LSQ_API_KEY_INDIA": "india-key"}, with_tokens=True)
    message = caught.value.message
    assert "cannot start" in message
    assert "[accounts.us] api_key_env: the environment variable LSQ_API_KEY_US is not set" in (
        message
    )
    assert "[routing] default routes to account 'europe'" in message
    assert "[mcp_tokens.ops] token_env: the environment variable MCP_TOKEN_OPS is not set" in (
        message
    )
    assert "[mcp_tokens.ops] accounts: 'mars' is not an account of the file" in message
    assert "india-key" not in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[accounts", "not valid TOML"),
        ("[accounts.a]\napi_key_env = 'K'\nregion = 'xx9'\n", "has no documented async host"),
        ("[accounts.a]\napi_key_env = 'K'\nbase_url = 'http://lsq.example'\n", "unencrypted"),
        ("[accounts.a]\napi_key_env = 'K'\nfamilies = ['nope']\n", "unknown 'nope'"),
        ("[accounts.\"Mars!\"]\napi_key_env = 'K'\n", "account names use lower-case letters"),
        ("[accounts.a]\napi_key_env = 'K'\ncolour = 'red'\n", "colour"),
        ("[routing]\ndefault = 'a'\n", "accounts"),
    ],
)
def test_a_malformed_file_is_refused_with_the_reason(
    tmp_path: Path, text: str, problem: str
) -> None:
    settings = load_settings(_env_file=None, lsq_accounts_file=accounts_file(tmp_path, text))
    with pytest.raises(ConfigurationError, match=problem):
        load_accounts(settings, environ={"K": "key"})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, lsq_accounts_file=str(tmp_path / "none.toml"))
    with pytest.raises(ConfigurationError, match=r"(?s)none.toml.*does not exist"):
        load_accounts(settings, environ={})


def test_v1_mcp_tokens_reach_every_account_of_the_file(tmp_path: Path) -> None:
    path = accounts_file(tmp_path, TWO_ACCOUNTS)
    env = {**KEYS, "MCP_TOKEN_OPS": "t" * 24}
    settings = load_settings(_env_file=None, lsq_accounts_file=path, mcp_auth_tokens="v" * 32)
    tokens = load_accounts(settings, environ=env, with_tokens=True).mcp_tokens
    [v1] = [entry for entry in tokens if entry.token.get_secret_value() == "v" * 32]
    assert v1.accounts == ("india", "us")


def test_every_secret_the_file_points_at_is_known_for_log_masking(tmp_path: Path) -> None:
    path = accounts_file(tmp_path, TWO_ACCOUNTS)
    settings = load_settings(_env_file=None, lsq_accounts_file=path)
    env = {**KEYS, "MCP_TOKEN_OPS": "t" * 24, "UNRELATED": "x"}
    assert sorted(secret_values(settings, environ=env)) == sorted(["india-key", "us-key", "t" * 24])
    broken = load_settings(_env_file=None, lsq_accounts_file=accounts_file(tmp_path, "[x"))
    assert secret_values(broken, environ=env) == []
