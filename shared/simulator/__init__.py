"""A faithful simulator of LeadSquared's async Capture Opportunities API: the one fake.

The demo, the tests (in process through ``httpx.ASGITransport``, or on a real socket
through :func:`serve_simulator`) and the benchmarks all run against it::

    app = create_app(SimulatorConfig(clock=fake_clock))
    simulator: Simulator = app.state.simulator
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=2))

Submissions are In-Queue for a fixed ``processing_seconds`` by default; a ``QueueModel``
serves each account's submissions in order at a random pace instead (some through ERROR
first), so that a burst finishes over minutes::

    app = create_app(SimulatorConfig(queue=QueueModel(rate_per_minute=20, seed=7)))

It can serve several LeadSquared accounts at once, each with its own key, rate window and
data (the seeded samples too, under ids of its own)::

    eu = SimulatedAccount(name="eu", api_key="key-b")
    app = create_app(SimulatorConfig(api_key="key-a", accounts=(eu,)))
    sample_ids_for("default")  # the sample RequestIds "key-a" finds (those of SAMPLES)
    sample_ids_for("eu")  # the same samples under the ids "key-b" finds

Run it on its own with ``python -m shared.simulator --host 127.0.0.1 --port 8765`` (add
``--account NAME=KEY`` for each further account).
What it answers, and which parts are documented or inferred, is described in
:mod:`shared.simulator.app`.
"""

from __future__ import annotations

from shared.simulator.app import (
    ACCEPTED_MESSAGE,
    GATEWAY_NOT_FOUND_BODY,
    create_app,
    mx_throttle_body,
    rate_limited_body,
)
from shared.simulator.config import (
    DEFAULT_ACCOUNT,
    ERROR_RETRY_PAUSES,
    QueueModel,
    SimulatedAccount,
    SimulatorConfig,
)
from shared.simulator.faults import Fault, FaultKind, SimulatedConnectionReset
from shared.simulator.samples import (
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Sample,
    sample_ids_for,
    samples_for,
)
from shared.simulator.server import (
    RunningSimulator,
    SimulatorThread,
    serve_simulator,
    start_simulator_server,
)
from shared.simulator.state import (
    CallRecord,
    InvalidCaptureBodyError,
    Simulator,
    UnknownAccountError,
)
from shared.simulator.window import MovingWindow

__all__ = [
    "ACCEPTED_MESSAGE",
    "DEFAULT_ACCOUNT",
    "ERROR_RETRY_PAUSES",
    "GATEWAY_NOT_FOUND_BODY",
    "SAMPLES",
    "UNKNOWN_REQUEST_ID",
    "CallRecord",
    "Fault",
    "FaultKind",
    "InvalidCaptureBodyError",
    "MovingWindow",
    "QueueModel",
    "RunningSimulator",
    "Sample",
    "SimulatedAccount",
    "SimulatedConnectionReset",
    "Simulator",
    "SimulatorConfig",
    "SimulatorThread",
    "UnknownAccountError",
    "create_app",
    "mx_throttle_body",
    "rate_limited_body",
    "sample_ids_for",
    "samples_for",
    "serve_simulator",
    "start_simulator_server",
]
