"""One start-up path: settings once, logging with secrets masked, checks, one exit status."""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import bot.__main__
import cli.main
import mcp_server.__main__
import shared.startup
from shared.errors import ConfigurationError
from shared.infra.logs import QUIET_LIBRARIES
from shared.settings import Settings
from shared.startup import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    StartupFailed,
    report,
    start,
)

SECRET = "lsq-startup-secret-5d1e"
NO_ENV_FILE: dict[str, object] = {"_env_file": None}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test, never from the developer's shell."""
    for name in list(os.environ):
        if name.upper().startswith(("LSQ_", "MCP_", "SLACK_", "REDIS_")):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``start`` replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, quiet_level in quiet.items():
        logging.getLogger(name).setLevel(quiet_level)


def test_the_exit_statuses_are_the_documented_ones() -> None:
    assert (EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED) == (
        0,
        1,
        2,
        70,
        130,
    )


@pytest.mark.parametrize(
    "module", [bot.__main__, mcp_server.__main__, cli.main], ids=["bot", "mcp", "cli"]
)
def test_every_entry_point_uses_the_one_definition_of_the_exit_statuses(
    module: ModuleType,
) -> None:
    assert not re.search(r"^EXIT_\w+\s*[:=]", inspect.getsource(module), re.MULTILINE)
    shared_values = {v for k, v in vars(shared.startup).items() if k.startswith("EXIT_")}
    used = {v for k, v in vars(module).items() if k.startswith("EXIT_")}
    assert used
    assert used <= shared_values


def test_start_reads_the_settings_and_logs_with_every_secret_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LSQ_API_KEY", SECRET)
    monkeypatch.setenv("LSQ_LOG_LEVEL", "INFO")
    settings = start(overrides=NO_ENV_FILE)
    assert isinstance(settings, Settings)
    assert settings.lsq_api_key is not None
    assert settings.lsq_api_key.get_secret_value() == SECRET
    logging.getLogger("capture_status.test").info("the key is %s", SECRET)
    logging.getLogger("capture_status.test").debug("below the configured level")
    err = capsys.readouterr().err
    assert "the key is [redacted]" in err
    assert SECRET not in err
    assert "below the configured level" not in err


def test_overrides_go_on_top_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSQ_REGION", "us11")
    settings = start(overrides={**NO_ENV_FILE, "lsq_region": "in21"})
    assert settings.lsq_region == "in21"


def test_the_log_level_can_be_chosen_by_the_entry_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    start(overrides={**NO_ENV_FILE, "lsq_log_level": "DEBUG"}, log_level="ERROR")
    logging.getLogger("capture_status.test").warning("a warning")
    logging.getLogger("capture_status.test").error("an error")
    err = capsys.readouterr().err
    assert "a warning" not in err
    assert "an error" in err


def test_an_invalid_setting_is_one_message_on_stderr_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LSQ_API_KEY", SECRET)
    monkeypatch.setenv("LSQ_RATE_LIMIT_CALLS", f"x{SECRET}")
    checked: list[Settings] = []
    with pytest.raises(StartupFailed) as caught:
        start(overrides=NO_ENV_FILE, checks=[checked.append])
    assert caught.value.exit_code == EXIT_USAGE == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == caught.value.message + "\n"
    assert captured.err.startswith("capture-status cannot start; fix these settings")
    assert "LSQ_RATE_LIMIT_CALLS" in captured.err
    assert SECRET not in captured.err
    assert "Traceback" not in captured.err
    assert checked == []  # no settings, nothing to check


def test_the_checks_see_the_settings_once_logging_is_set_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LSQ_API_KEY", SECRET)
    seen: list[Settings] = []

    def check(settings: Settings) -> None:
        seen.append(settings)
        logging.getLogger("capture_status.test").warning("checking with %s", SECRET)

    settings = start(overrides=NO_ENV_FILE, checks=[check])
    assert seen == [settings]
    err = capsys.readouterr().err
    assert "checking with [redacted]" in err
    assert SECRET not in err


def test_every_failing_check_is_reported_the_same_way_then_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def no_accounts(_: Settings) -> None:
        raise ConfigurationError("ACCOUNTS_FILE: account 'eu' has no API key")

    def fine(_: Settings) -> None:
        return None

    def no_token(_: Settings) -> None:
        raise ConfigurationError("SLACK_BOT_TOKEN: is not set")

    with pytest.raises(StartupFailed) as caught:
        start(overrides=NO_ENV_FILE, checks=[no_accounts, fine, no_token])
    assert caught.value.exit_code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == ("ACCOUNTS_FILE: account 'eu' has no API key\nSLACK_BOT_TOKEN: is not set\n")


def test_a_check_that_breaks_unexpectedly_is_not_hidden_as_a_configuration_problem() -> None:
    def broken(_: Settings) -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        start(overrides=NO_ENV_FILE, checks=[broken])


def test_report_writes_one_message_and_returns_the_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert report("cannot listen on 127.0.0.1:3000", EXIT_FAILED) == 1
    assert report("Slack refused SLACK_BOT_TOKEN") == EXIT_USAGE
    assert capsys.readouterr().err == (
        "cannot listen on 127.0.0.1:3000\nSlack refused SLACK_BOT_TOKEN\n"
    )


def test_keys_and_tokens_the_accounts_file_points_at_are_masked_in_logs_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[accounts.india]\nregion = "in21"\napi_key_env = "CS_TEST_INDIA_KEY"\n'
        '[mcp_tokens.ops]\ntoken_env = "CS_TEST_OPS_TOKEN"\naccounts = ["india"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("LSQ_ACCOUNTS_FILE", str(path))
    monkeypatch.setenv("CS_TEST_INDIA_KEY", "india-file-key-7f3a")
    monkeypatch.setenv("CS_TEST_OPS_TOKEN", "ops-file-token-9c2b0d4e")
    start(overrides=NO_ENV_FILE)
    log = logging.getLogger("capture_status.test")
    log.warning("key %s token %s", "india-file-key-7f3a", "ops-file-token-9c2b0d4e")
    err = capsys.readouterr().err
    assert "key [redacted] token [redacted]" in err
