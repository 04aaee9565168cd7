"""Switchable faults: the ways a real LeadSquared async host (or the way to it) misbehaves.

A fault is set on the :class:`~shared.simulator.state.Simulator` (in process with
``set_fault`` or across processes with ``POST /_sim/fault``). It applies to API routes only,
after the ``x-api-key`` check and the rate window, and before normal handling. With
``remaining`` set it applies to that many calls and then clears itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SERVER_ERROR_CODES", "Fault", "FaultKind", "SimulatedConnectionReset"]

#: the 5xx answers a ``server_error`` fault may give
SERVER_ERROR_CODES = frozenset({500, 502, 503})


class FaultKind(StrEnum):
    """What a fault does to the answer of an API call."""

    #: delay each answer by ``seconds``, then answer normally
    LATENCY = "latency"
    #: answer ``status_code`` (500, 502 or 503) with a short error body
    SERVER_ERROR = "server_error"
    #: start a response, then cut the connection: clients see a transport error
    CONNECTION_RESET = "connection_reset"
    #: 200 with a body that is not JSON (an HTML page from something on the way)
    MALFORMED_JSON = "malformed_json"
    #: 200 with the normal JSON answer cut in half
    TRUNCATED_JSON = "truncated_json"
    #: 200 with an empty body
    EMPTY_BODY = "empty_body"
    #: 200 whose body is an MXAPIRateLimitExceededException (throttling without a 429, 3P)
    MX_THROTTLE = "mx_throttle"
    #: 429 like the rate window's, with a Retry-After header only when ``retry_after`` is set
    RATE_LIMITED = "rate_limited"
    #: the status envelope with ``Status`` set to ``status_text`` (status routes only)
    UNKNOWN_STATUS = "unknown_status"


class Fault(BaseModel):
    """One fault to inject, with its parameters.

    Attributes:
        kind: what to do.
        remaining: apply to the next N API calls, then clear; ``None`` applies until cleared.
        seconds: the delay of a ``latency`` fault.
        status_code: the status of a ``server_error`` fault (500, 502 or 503).
        retry_after: the Retry-After header (seconds) of a ``rate_limited`` fault; ``None``
            sends no header, as LeadSquared documents none.
        status_text: the ``Status`` an ``unknown_status`` fault reports.
        paths: when set, the fault only applies to calls on these paths.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind
    remaining: int | None = Field(default=None, ge=1)
    seconds: float = Field(default=1.0, ge=0)
    status_code: int = 500
    retry_after: float | None = Field(default=None, ge=0)
    status_text: str = "Paused"
    paths: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _status_code_is_a_server_error(self) -> Self:
        if self.kind is FaultKind.SERVER_ERROR and self.status_code not in SERVER_ERROR_CODES:
            allowed = ", ".join(str(code) for code in sorted(SERVER_ERROR_CODES))
            raise ValueError(f"a server_error fault answers one of {allowed}")
        return self

    def applies_to(self, path: str, *, is_status_route: bool) -> bool:
        """Whether this fault changes the answer of a call on ``path``."""
        if self.paths is not None and path not in self.paths:
            return False
        # an unknown Status only means something inside a status envelope
        return self.kind is not FaultKind.UNKNOWN_STATUS or is_status_route


class SimulatedConnectionReset(httpx.ReadError):
    """Raised by the simulator's ASGI app to cut a connection half-way through a response.

    On a real socket uvicorn answers an exception raised after the response started by
    closing the transport, so a client sees a truncated response (an httpx
    ``RemoteProtocolError`` or ``ReadError``). In process, ``httpx.ASGITransport`` re-raises
    the app's exception as is; deriving from ``httpx.ReadError`` makes the in-process client
    see the same kind of transport error instead of a foreign exception type.
    """
