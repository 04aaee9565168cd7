"""The capture-status command: cards, JSON, exit codes, and never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID, SimulatorConfig, create_app
from shared.simulator.server import SimulatorThread
from tests.conftest import SIM_KEY


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command as a user would, from a folder with no .env file."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "SLACK_", "MCP_"))}
    clean.update(env or {})
    clean["COLUMNS"] = "120"
    return subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=tempfile.gettempdir(),  # a folder without a .env file
        timeout=60,
        check=False,
    )


def test_get_prints_a_card_per_id_and_says_it_is_a_demo() -> None:
    created = SAMPLES["created"].request_id
    failed = SAMPLES["failure_invalid_activity_fields"].request_id
    result = run_cli("get", created, f"see https://x/status?RequestID={failed}")
    assert result.returncode == 0, result.stderr
    assert "DEMO MODE" in result.stderr
    assert "Opportunity created" in result.stdout
    assert "✅ Success" in result.stdout
    assert "❌ FAILURE" in result.stdout
    assert "MXInvalidActivityFieldsException" in result.stdout


def test_any_failed_lookup_exits_non_zero_with_a_message_and_no_traceback() -> None:
    result = run_cli("get", SAMPLES["created"].request_id, UNKNOWN_REQUEST_ID, "not-an-id")
    assert result.returncode == 1
    assert "2 of 3 lookups failed" in result.stderr
    assert "region" in result.stdout.lower()
    assert "GUID" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_json_output_carries_every_decoded_field_and_the_explanation() -> None:
    result = run_cli("get", "--json", SAMPLES["created"].request_id, UNKNOWN_REQUEST_ID)
    assert result.returncode == 1
    views = json.loads(result.stdout)
    found, missing = views
    assert found["found"] is True
    assert found["status"]["task"]["status"] == "Success"
    assert found["status"]["outcome"]["created_opportunity_id"]
    assert found["status"]["task"]["request_body"]["value"]["Opportunity"]
    assert found["explanation"]["headline"].startswith("Opportunity created")
    assert missing["found"] is False
    assert missing["error"]["code"] == "not_found"
    assert missing["explanation"]["next_steps"]


def test_json_output_masks_the_submitted_lead_details() -> None:
    result = run_cli("get", "--json", SAMPLES["created"].request_id)
    body = json.dumps(json.loads(result.stdout)[0]["status"]["task"]["request_body"])
    envelope = json.dumps(SAMPLES["created"].envelope)
    emails = [w for w in envelope.replace('"', " ").split() if "@" in w and "." in w]
    assert emails
    for email in emails:
        assert email.strip(",\\") not in body


def test_metrics_prints_the_queue_and_its_reading() -> None:
    result = run_cli("metrics", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == {
        "account",
        "pending_messages",
        "max_delay_seconds",
        "processing_rate_per_minute",
    }
    assert figures["account"] == "default"
    human = run_cli("metrics")
    assert "Pending requests" in human.stdout


def test_demo_looks_up_every_sample() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    for sample in SAMPLES.values():
        assert sample.request_id in result.stdout


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LSQ_REGION": "mars1"}, ["LSQ_REGION"]),
        ({"LSQ_API_KEY": "k", "LSQ_RATE_LIMIT_CALLS": "x"}, ["LSQ_RATE_LIMIT_CALLS"]),
        (
            {"LSQ_API_KEY": "k", "LSQ_ASYNC_BASE_URL": "http://asyncapi.leadsquared.com"},
            ["LSQ_ASYNC_BASE_URL: uses http:// for asyncapi.leadsquared.com", "use https://"],
        ),
    ],
)
def test_a_bad_setting_stops_with_one_clear_message(env: dict[str, str], names: list[str]) -> None:
    result = run_cli("get", SAMPLES["created"].request_id, env=env)
    assert result.returncode == 2
    for name in names:
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_host_is_explained_not_crashed() -> None:
    env = {
        "LSQ_API_KEY": "k",
        "LSQ_ASYNC_BASE_URL": "http://127.0.0.1:9",
        "LSQ_RETRY_ATTEMPTS": "1",
        "LSQ_CONNECT_TIMEOUT_SECONDS": "1",
    }
    result = run_cli("get", SAMPLES["created"].request_id, env=env)
    assert result.returncode == 1
    assert "Could not reach LeadSquared" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_never_calls_a_real_account_even_with_credentials_set() -> None:
    env = {"LSQ_API_KEY": "real-key", "LSQ_ASYNC_BASE_URL": "http://127.0.0.1:9"}
    result = run_cli("demo", env=env)
    assert result.returncode == 0, result.stderr
    assert "DEMO MODE" in result.stderr
    assert "Could not reach LeadSquared" not in result.stdout
    assert SAMPLES["created"].request_id in result.stdout


HOSTILE = "\x00\x1b[31mRED\x1b]0;owned\x07\x9b2J\u202eTXT.EXE\u2066\u200b\r\u2028FAKE"


@pytest.fixture(scope="module")
def hostile_request() -> Iterator[tuple[str, str]]:
    """The simulator on a socket, holding a FAILURE whose StatusReason quotes hostile text.

    The simulator's reason for a bad SearchBy quotes the attribute name the request sent.
    """
    app = create_app(SimulatorConfig(api_key=SIM_KEY, processing_seconds=0))
    request_id = app.state.simulator.submit(
        {
            "LeadDetails": [{"Attribute": "SearchBy", "Value": HOSTILE}],
            "Opportunity": {"OpportunityEventCode": 12000, "Fields": [{"SchemaName": "a"}]},
        }
    )
    with SimulatorThread(app) as url:
        yield url, request_id


def test_hostile_upstream_text_reaches_the_terminal_inert(
    hostile_request: tuple[str, str],
) -> None:
    url, request_id = hostile_request
    env = {"LSQ_API_KEY": SIM_KEY, "LSQ_ASYNC_BASE_URL": url}
    result = run_cli("get", request_id, f"{request_id}\x1b[2J", env=env)
    assert result.returncode == 0, result.stderr
    assert "FAILURE" in result.stdout
    assert "[31mRED" in result.stdout  # the text is shown, as text
    for char in "\x00\x1b\x07\x9b\u202e\u2066\u200b\u2028\r":
        assert char not in result.stdout + result.stderr, f"U+{ord(char):04X}"


def test_hostile_upstream_text_in_json_is_exact_data_and_inert_on_screen(
    hostile_request: tuple[str, str],
) -> None:
    url, request_id = hostile_request
    env = {"LSQ_API_KEY": SIM_KEY, "LSQ_ASYNC_BASE_URL": url}
    result = run_cli("get", "--json", request_id, env=env)
    assert result.returncode == 0, result.stderr
    for char in "\x00\x1b\x07\x9b\u202e\u2066\u200b\u2028\r":
        assert char not in result.stdout, f"U+{ord(char):04X}"
    [view] = json.loads(result.stdout)
    assert HOSTILE in view["status"]["task"]["status_reason"]  # the data, exactly
