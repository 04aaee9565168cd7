"""Settings: documented defaults, region hosts, and one clear message for every bad value."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.lsq.hosts import REGION_HOSTS
from shared.runtime import client_options
from shared.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("LSQ_", "SLACK_", "MCP_", "REDIS_")):
            monkeypatch.delenv(name)


def test_without_credentials_the_product_runs_as_a_demo() -> None:
    settings = load_settings(_env_file=None)
    assert settings.demo_mode
    assert settings.async_base_url == REGION_HOSTS["sg"]
    assert settings.rate_budget_calls == 23


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("in21", "https://asyncapi-in21.leadsquared.com"),
        ("India", "https://asyncapi-in21.leadsquared.com"),
        ("US11", "https://asyncapi-us11.leadsquared.com"),
        ("singapore", "https://asyncapi.leadsquared.com"),
    ],
)
def test_a_region_chooses_its_documented_async_host(
    monkeypatch: pytest.MonkeyPatch, region: str, host: str
) -> None:
    monkeypatch.setenv("LSQ_API_KEY", "k")
    monkeypatch.setenv("LSQ_REGION", region)
    settings = load_settings(_env_file=None)
    assert not settings.demo_mode
    assert settings.async_base_url == host


def test_a_base_url_wins_over_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSQ_API_KEY", "k")
    monkeypatch.setenv("LSQ_REGION", "ca12")
    monkeypatch.setenv("LSQ_ASYNC_BASE_URL", "https://asyncapi-ca12.leadsquared.com/")
    settings = load_settings(_env_file=None)
    assert settings.async_base_url == "https://asyncapi-ca12.leadsquared.com"


def test_every_bad_value_is_named_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSQ_REGION", "mars1")
    monkeypatch.setenv("LSQ_STATUS_PATH", "opportunity/status")
    monkeypatch.setenv("LSQ_RATE_LIMIT_CALLS", "lots")
    monkeypatch.setenv("LSQ_LOOKUP_DEADLINE_SECONDS", "-1")
    monkeypatch.setenv("LSQ_MASK_PII", "maybe")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    message = caught.value.message
    for name in (
        "LSQ_REGION",
        "LSQ_STATUS_PATH",
        "LSQ_RATE_LIMIT_CALLS",
        "LSQ_LOOKUP_DEADLINE_SECONDS",
        "LSQ_MASK_PII",
    ):
        assert name in message
    assert "LSQ_ASYNC_BASE_URL" in message  # the way out for an undocumented region


def test_a_base_url_without_a_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSQ_ASYNC_BASE_URL", "https://asyncapi.leadsquared.com")
    with pytest.raises(ConfigurationError, match="LSQ_API_KEY"):
        load_settings(_env_file=None)


def test_headroom_must_leave_calls_to_make(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSQ_RATE_LIMIT_CALLS", "10")
    monkeypatch.setenv("LSQ_RATE_HEADROOM_CALLS", "10")
    with pytest.raises(ConfigurationError, match="LSQ_RATE_HEADROOM_CALLS"):
        load_settings(_env_file=None)


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ALLOWED_HOSTS", "mcp.example.com, mcp.example.com:443")
    monkeypatch.setenv("SLACK_ALLOWED_CHANNEL_IDS", "C1,C2")
    settings = load_settings(_env_file=None)
    assert settings.mcp_allowed_hosts == ("mcp.example.com", "mcp.example.com:443")
    assert settings.slack_allowed_channel_ids == ("C1", "C2")


def test_client_options_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSQ_API_KEY", "k")
    monkeypatch.setenv("LSQ_RATE_LIMIT_CALLS", "20")
    monkeypatch.setenv("LSQ_RATE_HEADROOM_CALLS", "4")
    monkeypatch.setenv("LSQ_CACHE_PENDING_TTL_SECONDS", "7")
    options = client_options(load_settings(_env_file=None))
    assert options.budget_calls == 16
    assert options.cache_ttls.pending == 7
    assert options.base_url == REGION_HOSTS["sg"]


def test_the_example_env_file_loads_as_a_demo() -> None:
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / ".env.example"
    settings = load_settings(_env_file=example)
    assert settings.demo_mode
    assert settings.lsq_throttle_cooldown_seconds is None
    assert settings.mcp_allowed_hosts == ("127.0.0.1:*", "localhost:*", "[::1]:*")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LSQ_API_KEY", "clé-secrète"),
        ("LSQ_API_KEY", "two words"),
        ("REDIS_URL", "localhost:6379"),
        ("LSQ_ASYNC_BASE_URL", "http://[::1"),
        ("LSQ_ASYNC_BASE_URL", "https://host:99999"),
        ("SLACK_API_URL", "https://"),
    ],
)
def test_values_that_would_fail_later_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("LSQ_API_KEY", "k")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    assert name in caught.value.message
    assert value not in caught.value.message or name.endswith("URL")


def test_a_deadline_shorter_than_one_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSQ_READ_TIMEOUT_SECONDS", "10")
    monkeypatch.setenv("LSQ_LOOKUP_DEADLINE_SECONDS", "5")
    with pytest.raises(ConfigurationError, match="LSQ_LOOKUP_DEADLINE_SECONDS"):
        load_settings(_env_file=None)


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("LSQ_ASYNC_BASE_URL", "http://asyncapi.leadsquared.com", "API key"),
        ("LSQ_ASYNC_BASE_URL", "http://10.0.0.7:8080", "API key"),
        ("LSQ_ASYNC_BASE_URL", "http://localhost.example.com", "API key"),
        ("SLACK_API_URL", "http://slack.com/api", "bot token"),
        ("SLACK_API_URL", "http://[2001:db8::1]:8080", "bot token"),
    ],
)
def test_plain_http_to_another_host_is_refused_because_the_secret_would_travel_in_clear(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, secret: str
) -> None:
    monkeypatch.setenv("LSQ_API_KEY", "k")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    message = caught.value.message
    assert f"{name}: uses http://" in message
    assert secret in message
    assert "use https://" in message


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:8765",
        "http://127.3.4.5",
        "http://localhost:8765",
        "http://LOCALHOST",
        "http://[::1]:8765",
        "https://asyncapi-ca12.leadsquared.com",
    ],
)
def test_plain_http_to_this_machine_and_https_anywhere_are_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LSQ_API_KEY", "k")
    monkeypatch.setenv("LSQ_ASYNC_BASE_URL", value)
    monkeypatch.setenv("SLACK_API_URL", value)
    settings = load_settings(_env_file=None)
    assert settings.async_base_url == value
    assert settings.slack_api_url == value


def test_the_app_link_host_may_use_http_because_no_secret_goes_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LSQ_APP_BASE_URL", "http://crm.internal.example")
    assert load_settings(_env_file=None).lsq_app_base_url == "http://crm.internal.example"


def test_families_are_read_as_a_list_of_known_names() -> None:
    settings = load_settings(_env_file=None, lsq_families="Lead_Capture, opportunity_capture")
    assert settings.lsq_families == ("lead_capture", "opportunity_capture")
    with pytest.raises(ConfigurationError, match="LSQ_FAMILIES: unknown 'leads'"):
        load_settings(_env_file=None, lsq_families="leads")


def test_the_client_takes_its_id_cap_and_limit_from_the_settings() -> None:
    settings = load_settings(
        _env_file=None, lsq_max_ids_per_call=7, lsq_rate_limit_calls=10, lsq_rate_limit_seconds=60
    )
    options = client_options(settings)
    assert options.max_ids_per_call == 7
    assert options.limit_text == "10 calls per 60 s"
