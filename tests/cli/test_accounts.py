"""Several accounts from the terminal, and a broken accounts file at every entry point.

The demo serves two accounts (``default`` and ``us``) from one simulator, each with its own
key and data: an id of ``us`` is found only when ``us`` answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from shared.simulator import sample_ids_for
from tests.cli.test_cli import run_cli

US_CREATED = sample_ids_for("us")["created"]


def test_account_asks_the_named_account_and_the_card_names_it() -> None:
    result = run_cli("get", "--account", "us", US_CREATED)
    assert result.returncode == 0, result.stderr
    assert "account us" in result.stdout
    assert "Opportunity created" in result.stdout


def test_without_account_the_default_account_answers() -> None:
    result = run_cli("get", "--json", US_CREATED)
    assert result.returncode == 1
    [view] = json.loads(result.stdout)
    assert view["account"] == "default"
    assert view["error"]["code"] == "not_found"


def test_an_unknown_account_is_a_usage_error_listing_the_accounts() -> None:
    result = run_cli("get", "--account", "mars", US_CREATED)
    assert result.returncode == 2
    assert "no LeadSquared account called 'mars'" in result.stderr
    assert "default, us" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_and_demo_take_an_account_too() -> None:
    metrics = run_cli("metrics", "--json", "--account", "us")
    assert metrics.returncode == 0, metrics.stderr
    assert json.loads(metrics.stdout)["account"] == "us"
    demo = run_cli("demo", "--json", "--account", "us")
    assert demo.returncode == 0, demo.stderr
    views = json.loads(demo.stdout)
    assert {view["account"] for view in views} == {"us"}
    assert {view["request_id"] for view in views} == set(sample_ids_for("us").values())


BROKEN = """
[accounts.india]
region = "in21"
api_key_env = "CS_TEST_UNSET_KEY"

[routing]
default = "europe"
slack_channels = { C0X = "mars" }
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "cli.main", "get", "c1d867a7-a325-4b68-954f-237dcd3c15e1"],
        ["-m", "bot"],
        ["-m", "mcp_server"],
    ],
    ids=["cli", "slack app", "mcp server"],
)
def test_a_broken_accounts_file_stops_every_entry_point_with_one_message(
    argv: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(BROKEN, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "SLACK_", "MCP_"))}
    env |= {
        "LSQ_ACCOUNTS_FILE": str(path),
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
    }
    result = subprocess.run(  # noqa: S603 (our own interpreter and modules)
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stderr
    err = result.stderr
    assert err.count("cannot start") == 1
    assert "the environment variable CS_TEST_UNSET_KEY is not set" in err
    assert "[routing] default routes to account 'europe'" in err
    assert "[routing] slack_channels.C0X routes to account 'mars'" in err
    assert "Traceback" not in err
