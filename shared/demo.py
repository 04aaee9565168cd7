"""The demo: the simulator on loopback, serving the demo accounts to every front door.

``capture-status run`` without credentials starts it, then hands the front doors (child
processes) an accounts file that points each demo account at the simulator, and the
environment variables holding their (demo) keys, exactly as a real deployment with
several accounts is configured. ``capture-status demo`` and the launcher's first answers
look up the samples each account holds (:func:`demo_request_ids`).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.accounts import DEFAULT_ACCOUNT, DEMO_ACCOUNTS

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "DEMO_SAMPLES",
    "DemoUpstream",
    "demo_request_ids",
    "demo_simulator_app",
    "serve_demo_upstream",
    "unknown_request_id",
]

log = logging.getLogger(__name__)

#: the samples shown first: one of each story
DEMO_SAMPLES = ("created", "duplicate", "failure_invalid_activity_fields", "error", "in_queue")


def demo_request_ids(
    account: str = DEFAULT_ACCOUNT, *, samples: Sequence[str] | None = None
) -> list[str]:
    """The RequestIds of the samples the simulator holds for ``account`` (all, or ``samples``)."""
    from shared.simulator import sample_ids_for

    ids = sample_ids_for(account)
    return [ids[name] for name in (samples or list(ids)) if name in ids]


def unknown_request_id() -> str:
    """A well-formed RequestId the simulator knows for no account."""
    from shared.simulator import UNKNOWN_REQUEST_ID

    return UNKNOWN_REQUEST_ID


@dataclass(frozen=True, slots=True)
class DemoUpstream:
    """The running demo simulator and how to reach it.

    Attributes:
        url: where it listens (loopback).
        accounts_file: the accounts file pointing every demo account at it.
        environment: the variables a front door needs (the file, the keys, ``LSQ_DEMO``).
    """

    url: str
    accounts_file: Path
    environment: dict[str, str] = field(default_factory=dict[str, str])


def demo_simulator_app() -> Starlette:
    """The simulator serving :data:`~shared.accounts.DEMO_ACCOUNTS` (one key each)."""
    # Imported here: only the demo needs the simulator.
    from shared.simulator import SimulatedAccount, SimulatorConfig, create_app

    (_, first_key), *others = DEMO_ACCOUNTS.items()
    more = tuple(SimulatedAccount(name=name, api_key=key) for name, key in others)
    return create_app(SimulatorConfig(api_key=first_key, accounts=more))


@asynccontextmanager
async def serve_demo_upstream(port: int) -> AsyncGenerator[DemoUpstream]:
    """Serve :data:`~shared.accounts.DEMO_ACCOUNTS` on 127.0.0.1 (``port``, else a free one)."""
    from shared.simulator.server import start_simulator_server

    app = demo_simulator_app()
    try:
        running = await start_simulator_server(app, port=port)
    except (RuntimeError, OSError):
        running = await start_simulator_server(app, port=0)
    try:
        with tempfile.TemporaryDirectory(prefix="capture-status-demo-") as workdir:
            path = Path(workdir) / "accounts.toml"
            environment = {"LSQ_ACCOUNTS_FILE": str(path), "LSQ_DEMO": "true"}
            entries: list[str] = []
            for name, key in DEMO_ACCOUNTS.items():
                variable = f"LSQ_DEMO_KEY_{name.upper().replace('-', '_')}"
                environment[variable] = key
                entries.append(
                    f'[accounts.{name}]\nbase_url = "{running.url}"\napi_key_env = "{variable}"\n'
                )
            entries.append(f'[routing]\ndefault = "{DEFAULT_ACCOUNT}"\n')
            path.write_text("\n".join(entries), encoding="utf-8")
            yield DemoUpstream(url=running.url, accounts_file=path, environment=environment)
    finally:
        await running.stop()
