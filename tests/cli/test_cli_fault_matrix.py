"""Fault matrix, CLI: every upstream fault gives a clear answer in time; nothing crashes."""

from __future__ import annotations

import concurrent.futures
import logging
import re
from collections.abc import Iterator

import pytest

from cli.main import main
from shared.simulator import SAMPLES, Simulator, SimulatorConfig, create_app
from shared.simulator.server import SimulatorThread
from tests.conftest import SIM_KEY
from tests.fault_matrix import FAULT_CASES, FAULT_SETTINGS, FaultCase


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    app = create_app(SimulatorConfig(api_key=SIM_KEY, rate_limit_calls=10_000))
    with SimulatorThread(app) as url:
        yield app.state.simulator, url


@pytest.fixture(autouse=True)
def _keep_logging_as_it_was() -> Iterator[None]:
    """The CLI configures the root logger, as an entry point does; undo that afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("case", FAULT_CASES, ids=lambda c: c.name)
def test_each_fault_gets_a_clear_answer_within_the_deadline(
    served: tuple[Simulator, str],
    case: FaultCase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, url = served
    sim.set_fault(case.fault)
    monkeypatch.setenv("LSQ_API_KEY", SIM_KEY)
    monkeypatch.setenv("LSQ_ASYNC_BASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    for name, value in FAULT_SETTINGS.items():
        monkeypatch.setenv(name, value)
    rid = SAMPLES["created"].request_id
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            code = pool.submit(main, ["get", "--json", rid]).result(timeout=30)
    finally:
        sim.set_fault(None)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if case.codes:
        assert code == 1
        found_code = re.search(r'"code": "(\w+)"', out)
        assert found_code is not None
        assert found_code.group(1) in case.codes
    else:
        assert code == 0
    assert case.says.lower() in out.lower()
