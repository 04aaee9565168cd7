"""The CLI process shows hostile answers inertly: masked, without controls, bounded, in time.

``capture-status get`` runs as its own process (``python -m cli.main``) against the
simulator on a loopback socket, which serves every answer of the adversarial corpus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from shared.simulator import SAMPLES, Simulator, SimulatorConfig, create_app
from shared.simulator.server import SimulatorThread
from tests.conftest import SIM_KEY
from tests.hostile import HOSTILE_IDS, assert_inert, serve_hostile_answers

#: a bound on the whole run: masking used to take ~26 s for one backslash-filled answer
RUN_WITHIN = 60.0
#: characters a card may take on the terminal, per id
CARD_LIMIT = 12_000


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    app = create_app(SimulatorConfig(api_key=SIM_KEY, rate_limit_calls=10_000))
    simulator: Simulator = app.state.simulator
    serve_hostile_answers(simulator)
    with SimulatorThread(app) as url:
        yield simulator, url


def _run_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "SLACK_", "MCP_"))},
        "LSQ_API_KEY": SIM_KEY,
        "LSQ_ASYNC_BASE_URL": url,
        "LSQ_LOG_LEVEL": "DEBUG",
        "COLUMNS": "120",
    }
    return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "cli.main", "get", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_WITHIN,
        check=False,
    )


def test_every_hostile_answer_gets_an_inert_card(served: tuple[Simulator, str]) -> None:
    _, url = served
    ids = list(HOSTILE_IDS.values())
    done = _run_cli(url, *ids)
    assert done.returncode in (0, 1), done.stderr[-2_000:]
    assert_inert(done.stdout, limit=CARD_LIMIT * len(ids))
    assert_inert(done.stderr)  # the DEBUG log included
    for rid in ids:
        assert rid in done.stdout  # every id answered, none lost to its neighbours


def test_every_hostile_answer_gets_inert_json(served: tuple[Simulator, str]) -> None:
    _, url = served
    done = _run_cli(url, "--json", *HOSTILE_IDS.values())
    assert done.returncode in (0, 1), done.stderr[-2_000:]
    views: list[dict[str, Any]] = json.loads(done.stdout)
    assert [v["request_id"] for v in views] == list(HOSTILE_IDS.values())
    # what reaches the terminal: controls stay in the data, as escapes, never raw
    assert_inert(done.stdout, limit=60_000 * len(views))
    assert_inert(done.stderr)
    for view in views:
        # bounded answers always explain: none became a failed lookup on the way
        assert view["found"] is True, view["explanation"]


def test_an_unreadable_body_shows_its_size_and_reason_not_its_text(
    served: tuple[Simulator, str],
) -> None:
    _, url = served
    rid = SAMPLES["request_body_not_json"].request_id  # the single-quoted sample
    done = _run_cli(url, "--json", rid, HOSTILE_IDS["truncated_body"])
    views: list[dict[str, Any]] = json.loads(done.stdout)
    for view in views:
        body = view["status"]["task"]["request_body"]
        assert body["raw"] is None  # withheld: text that is not JSON cannot be masked reliably
        assert body["unreadable"].startswith("not valid JSON")
        summary = view["explanation"]["request_summary"]
        assert summary["raw_excerpt"] is None
        assert summary["size"] == body["size"] > 0
    assert "'Ravi'" not in done.stdout
    assert "priya.sharma" not in done.stdout
    card = _run_cli(url, rid).stdout
    assert "not shown" in card
    assert "'Value'" not in card
