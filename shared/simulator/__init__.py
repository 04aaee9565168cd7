"""A faithful simulator of LeadSquared's async Capture Opportunities API: the one fake.

The demo, the tests (in process through ``httpx.ASGITransport``, or on a real socket
through :func:`serve_simulator`) and the benchmarks all run against it::

    app = create_app(SimulatorConfig(clock=fake_clock))
    simulator: Simulator = app.state.simulator
    simulator.set_fault(Fault(kind=FaultKind.SERVER_ERROR, status_code=503, remaining=2))

Run it on its own with ``python -m shared.simulator --host 127.0.0.1 --port 8765``.
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
from shared.simulator.config import SimulatorConfig
from shared.simulator.faults import Fault, FaultKind, SimulatedConnectionReset
from shared.simulator.samples import SAMPLES, UNKNOWN_REQUEST_ID, Sample
from shared.simulator.server import (
    RunningSimulator,
    SimulatorThread,
    serve_simulator,
    start_simulator_server,
)
from shared.simulator.state import CallRecord, InvalidCaptureBodyError, Simulator
from shared.simulator.window import MovingWindow

__all__ = [
    "ACCEPTED_MESSAGE",
    "GATEWAY_NOT_FOUND_BODY",
    "SAMPLES",
    "UNKNOWN_REQUEST_ID",
    "CallRecord",
    "Fault",
    "FaultKind",
    "InvalidCaptureBodyError",
    "MovingWindow",
    "RunningSimulator",
    "Sample",
    "SimulatedConnectionReset",
    "Simulator",
    "SimulatorConfig",
    "SimulatorThread",
    "create_app",
    "mx_throttle_body",
    "rate_limited_body",
    "serve_simulator",
    "start_simulator_server",
]
