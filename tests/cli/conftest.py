"""The ``capture-status`` command run in process, against the simulator on a loopback socket.

The simulator serves two accounts (``default`` and ``us``, each its own key and data) to an
accounts file, as a real multi-account deployment is configured, with a limit high enough
that batches finish in a moment; every test starts with no recorded calls and no fault.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cli.main import main
from shared.simulator import SimulatedAccount, Simulator, SimulatorConfig, create_app
from shared.simulator.server import SimulatorThread
from tests.conftest import SIM_KEY

US_KEY = "sim-us-key-5190"
#: settings that make batches quick: a large budget, one attempt, short deadlines
FAST_BATCH_SETTINGS = {
    "LSQ_RATE_LIMIT_CALLS": "10000",
    "LSQ_RATE_LIMIT_SECONDS": "1",
    "LSQ_RETRY_ATTEMPTS": "1",
    "LSQ_READ_TIMEOUT_SECONDS": "0.5",
    "LSQ_CONNECT_TIMEOUT_SECONDS": "0.5",
    "LSQ_LOOKUP_DEADLINE_SECONDS": "2",
    "LSQ_BREAKER_FAILURES": "100",
    "COLUMNS": "200",
}


@pytest.fixture(scope="package")
def upstream() -> Iterator[tuple[Simulator, str]]:
    """The simulator on a socket: accounts ``default`` and ``us``, a limit never reached."""
    config = SimulatorConfig(
        api_key=SIM_KEY,
        accounts=(SimulatedAccount(name="us", api_key=US_KEY),),
        rate_limit_calls=100_000,
    )
    app = create_app(config)
    with SimulatorThread(app) as url:
        yield app.state.simulator, url


@dataclass(frozen=True)
class Ran:
    """What one run of the command printed, and its exit status."""

    code: int
    out: str
    err: str


class _Terminal(io.StringIO):
    """A screen: what is written is kept, and it says it is a terminal."""

    def isatty(self) -> bool:
        return True


@dataclass(frozen=True)
class Cli:
    """Runs ``capture-status`` in this process, as a user would, against :func:`upstream`."""

    sim: Simulator
    folder: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str, stdin: bytes = b"", stderr_terminal: bool = False) -> Ran:
        """Run ``capture-status ARGS`` with ``stdin``; standard error a terminal if asked."""
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        self.capsys.readouterr()
        terminal = _Terminal()
        with self.monkeypatch.context() as patch:
            if stderr_terminal:
                patch.setattr(sys, "stderr", terminal)
            code = main(list(args))
        out, err = self.capsys.readouterr()
        return Ran(code, out, err + terminal.getvalue())

    def looked_up(self) -> list[str]:
        """The RequestIds asked about upstream since the last call of this (then forgotten)."""
        asked = [call.request_id for call in self.sim.calls if call.request_id is not None]
        self.sim.reset_calls()
        return asked


@pytest.fixture
def cli(
    upstream: tuple[Simulator, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Iterator[Cli]:
    sim, url = upstream
    sim.set_fault(None)
    sim.reset_calls()
    for name in [n for n in os.environ if n.startswith(("LSQ_", "SLACK_", "MCP_"))]:
        monkeypatch.delenv(name)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[accounts.default]\nbase_url = "{url}"\napi_key_env = "CS_TEST_KEY_DEFAULT"\n\n'
        f'[accounts.us]\nbase_url = "{url}"\napi_key_env = "CS_TEST_KEY_US"\n\n'
        '[routing]\ndefault = "default"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("LSQ_ACCOUNTS_FILE", str(accounts))
    monkeypatch.setenv("CS_TEST_KEY_DEFAULT", SIM_KEY)
    monkeypatch.setenv("CS_TEST_KEY_US", US_KEY)
    for name, value in FAST_BATCH_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # a folder without a .env file
    # The command configures the root logger, as an entry point does; undo that afterwards.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield Cli(sim, tmp_path, monkeypatch, capsys)
    root.handlers[:] = handlers
    root.setLevel(level)
    sim.set_fault(None)
