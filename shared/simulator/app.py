"""The ASGI app of the LeadSquared async API simulator.

What it answers, and where each behaviour comes from (labels as in
``docs/leadsquared.md``, "Legend": DOC documented, 3P seen in third-party code, INF inferred,
GAP undocumented):

- ``GET <status path>?RequestID=<guid>`` (each of ``config.status_paths``; the real path is
  INF): 200 with the envelope ``{"RequestId", "TaskStatus": {...}}`` (DOC), where
  ``RequestBody`` and ``Message`` are escaped JSON strings (DOC). The parameter name is read
  case-insensitively (the docs spell ``RequestID`` and ``RequestId``). Missing parameter:
  400 (DOC: "not per spec"). Not a GUID: 400 (GAP). Well-formed but unknown: 404 saying no
  request was found (GAP: a real host may answer otherwise).
- ``GET <metrics path>``: ``PendingMessages``, ``MaxDelayInSeconds``,
  ``ProcessingratePerMinute`` (DOC, with the docs' odd casing).
- ``POST <capture path>``: queues a capture and answers its RequestID (DOC); the request is
  In-Queue for ``processing_seconds``, then final, or, with ``config.queue``, until its
  account's queue has processed it in order, perhaps through ERROR first (INF; see
  :class:`~shared.simulator.config.QueueModel` and :meth:`Simulator.submit`).
- Every API route needs ``x-api-key`` (DOC): else 401. The key selects one of the accounts
  the simulator serves (``config.all_accounts``: ``"default"``, whose key is
  ``config.api_key``, then ``config.accounts``); a key no account has is refused with the
  same 401. Each account is a separate LeadSquared account: it has its own moving window of
  ``rate_limit_calls`` per ``rate_limit_seconds`` (DOC: 25 per 5 s; over it, 429 with the
  documented message, without Retry-After unless ``send_retry_after``: DOC, none is
  documented), and its own data: its seeded samples, its submissions, its put answers. A
  RequestId of one account is a well-formed unknown id (404) for every other. Refused calls
  (401, 429) do not count against the window (INF).
- Any other path or method: the gateway's 404 ``{"Message": "API could not be found"}``
  (DOC wording), before any key check, because the gateway answers it.
- Faults (:mod:`shared.simulator.faults`) apply after the key check and the window, to
  whichever account calls (one fault at a time for the whole simulator).
- Control routes, free of key and window, never recorded:

  - ``GET /healthz``;
  - ``GET /_sim/calls``: every recorded call (its ``account`` is the name of the account
    whose key it carried, or ``null``); ``?account=NAME`` lists that account's only.
    ``DELETE /_sim/calls`` forgets them (``?account=NAME``: that account's only);
  - ``GET``/``POST /_sim/fault``: the fault, shared by every account;
  - ``POST /_sim/reset``: back to the initial state (calls, fault, windows, every
    account's data); ``?account=NAME`` resets that account's calls, window and data only;
  - ``GET /_sim/samples``: the seeded samples of the first account, with their RequestIds;
    ``?account=NAME``: those of that account (same samples, its own ids);
  - ``PUT /_sim/answers/<id>`` (body: a ``TaskStatus`` object): served as that id's answer
    for the first account, or for ``?account=NAME``, until a reset: how tests serve hostile
    answers.

  An ``?account=`` naming no account is answered 404 ``{"error": ..., "accounts": [...]}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from shared.simulator.config import DEFAULT_ACCOUNT, SimulatorConfig
from shared.simulator.faults import Fault, FaultKind, SimulatedConnectionReset
from shared.simulator.samples import TASK_TYPE
from shared.simulator.state import (
    CallRecord,
    InvalidCaptureBodyError,
    Simulator,
    UnknownAccountError,
)

__all__ = [
    "ACCEPTED_MESSAGE",
    "GATEWAY_NOT_FOUND_BODY",
    "create_app",
    "mx_throttle_body",
    "rate_limited_body",
]

logger = logging.getLogger(__name__)

#: the gateway's answer for a path or method it does not route (DOC wording)
GATEWAY_NOT_FOUND_BODY: dict[str, str] = {"Message": "API could not be found"}
#: the capture submission's answer text (DOC)
ACCEPTED_MESSAGE = "Request accepted. Please use below request id to check the status"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# a page a proxy or WAF might put in front of the API: 200, but not JSON
_MALFORMED_BODY = (
    "<html><head><title>Request Rejected</title></head><body>The requested URL was "
    "rejected. Please consult with your administrator.</body></html>"
)
_SERVER_ERROR_BODIES: dict[int, dict[str, str]] = {
    500: {"Status": "Error", "Message": "An unexpected error occurred. Please try again later."},
    # 502/503 come from the gateway in front of the service, in its own shape
    502: {"message": "Internal server error"},
    503: {"message": "Service Unavailable"},
}


def rate_limited_body(config: SimulatorConfig) -> dict[str, str]:
    """The body of a 429 (DOC wording, numbers from ``config``)."""
    return {"Status": "Error", "Message": f"API calls exceeded {config.limit_text}"}


def mx_throttle_body(config: SimulatorConfig) -> dict[str, str]:
    """A 200 body that is really a throttle: an MX rate-limit exception (3P)."""
    return {
        "Status": "Error",
        "ExceptionType": "MXAPIRateLimitExceededException",
        "ExceptionMessage": f"API calls exceeded {config.limit_text}",
    }


@dataclass
class _Answer:
    """A normal (fault-free) answer, before it becomes a response."""

    status_code: int
    payload: Any
    request_id: str | None = None

    def to_response(self) -> Response:
        # ASCII-escaped JSON, as many gateways send it: any string can be served, even a lone
        # surrogate (valid JSON as "\\ud800", but not encodable as UTF-8)
        text = json.dumps(self.payload, separators=(",", ":"))
        return Response(text, self.status_code, media_type="application/json")


def _error(status_code: int, message: str, request_id: str | None = None) -> _Answer:
    return _Answer(status_code, {"Status": "Error", "Message": message}, request_id)


class _ConnectionResetResponse(Response):
    """Starts a 200 response with part of a body, then cuts the connection.

    uvicorn closes the transport when the app raises after the response started, so a
    client on a real socket gets a truncated response (a transport error). In process,
    :class:`SimulatedConnectionReset` (an ``httpx.ReadError``) reaches the client instead.
    """

    def __init__(self) -> None:
        super().__init__(content=b"", status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        del scope, receive  # the response is cut whatever the request was
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"4096"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b'{"RequestId":"', "more_body": True})
        raise SimulatedConnectionReset("simulated connection reset by the LeadSquared simulator")


def _simulator(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


def _query_value(request: Request, name: str) -> str | None:
    wanted = name.lower()
    for key, value in request.query_params.multi_items():
        if key.lower() == wanted:
            return value
    return None


def _status_answer(simulator: Simulator, request: Request, account: str) -> _Answer:
    raw = _query_value(request, "RequestID")
    if raw is None or not raw.strip():
        return _error(400, "RequestID is required")
    request_id = raw.strip()
    if not _GUID.match(request_id):
        return _error(400, "RequestID is not a valid GUID", request_id)
    request_id = request_id.lower()
    envelope = simulator.status_envelope(request_id, account)
    if envelope is None:
        return _error(404, f"No request found for RequestID {request_id}", request_id)
    return _Answer(200, envelope, request_id)


async def _capture_answer(simulator: Simulator, request: Request, account: str) -> _Answer:
    # accessKey/secretKey query parameters are tolerated and ignored (DOC lists them)
    body = await request.body()
    try:
        request_id = simulator.submit(body, account)
    except InvalidCaptureBodyError as exc:
        return _error(400, f"Invalid request body: {exc}")
    return _Answer(200, {"Status": ACCEPTED_MESSAGE, "RequestID": request_id}, request_id)


def _set_status(envelope: dict[str, Any], status_text: str) -> dict[str, Any]:
    for key, task in envelope.items():
        if key.lower() == "taskstatus" and isinstance(task, dict):
            for task_key in list(task):  # pyright: ignore[reportUnknownArgumentType,reportUnknownVariableType]
                if str(task_key).lower() == "status":  # pyright: ignore[reportUnknownArgumentType]
                    task[task_key] = status_text
    return envelope


def _fallback_envelope(request_id: str | None, status_text: str = "In-Queue") -> dict[str, Any]:
    """An envelope for an id the simulator does not know, for faults that need one."""
    return {
        "RequestId": request_id,
        "TaskStatus": {
            "TaskType": TASK_TYPE,
            "Status": status_text,
            "StatusReason": None,
            "TaskCurrentStep": "In-Process-Queue",
            "TaskLastStep": None,
            "RequestBody": None,
            "Message": None,
        },
    }


def _fault_response(fault: Fault, config: SimulatorConfig) -> Response | None:
    """The answer of a fault that replaces the normal one (``None`` for the others)."""
    match fault.kind:
        case FaultKind.SERVER_ERROR:
            return JSONResponse(_SERVER_ERROR_BODIES[fault.status_code], fault.status_code)
        case FaultKind.CONNECTION_RESET:
            return _ConnectionResetResponse()
        case FaultKind.MALFORMED_JSON:
            return Response(_MALFORMED_BODY, 200, media_type="text/html; charset=utf-8")
        case FaultKind.EMPTY_BODY:
            return Response(b"", 200, media_type="application/json")
        case FaultKind.MX_THROTTLE:
            return JSONResponse(mx_throttle_body(config), 200)
        case FaultKind.RATE_LIMITED:
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            return JSONResponse(rate_limited_body(config), 429, headers=headers)
        case FaultKind.LATENCY | FaultKind.TRUNCATED_JSON | FaultKind.UNKNOWN_STATUS:
            return None


def _reshape(fault: Fault, answer: _Answer, *, is_status_route: bool) -> Response:
    """Apply a fault that alters the normal answer instead of replacing it."""
    if fault.kind is FaultKind.UNKNOWN_STATUS:
        envelope = answer.payload if answer.status_code == 200 else _fallback_envelope(None)
        if envelope.get("RequestId") is None:
            envelope["RequestId"] = answer.request_id
        return JSONResponse(_set_status(envelope, fault.status_text), 200)
    if fault.kind is FaultKind.TRUNCATED_JSON:
        payload = answer.payload
        if answer.status_code != 200 and is_status_route:
            payload = _fallback_envelope(answer.request_id)
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return Response(text[: len(text) // 2], 200, media_type="application/json")
    return answer.to_response()


async def _api(request: Request) -> Response:
    """Every request that is not a control route: the simulated API host."""
    simulator = _simulator(request)
    config = simulator.config
    now = simulator.now()
    method = request.method
    path = request.url.path
    is_status_route = method == "GET" and path in config.status_paths
    is_metrics_route = method == "GET" and path == config.metrics_path
    is_capture_route = method == "POST" and path == config.capture_path

    asked = _query_value(request, "RequestID") if is_status_route else None
    asked = asked.strip().lower() if asked else None
    api_key = request.headers.get("x-api-key")
    account = config.account_for_key(api_key)

    def record(status_code: int | None, **extra: Any) -> None:
        extra.setdefault("request_id", asked)
        simulator.record(
            CallRecord(
                at=now,
                method=method,
                path=path,
                status_code=status_code,
                account=account,
                **extra,
            )
        )

    if not (is_status_route or is_metrics_route or is_capture_route):
        record(404)
        return JSONResponse(GATEWAY_NOT_FOUND_BODY, 404)

    if api_key is None or account is None:
        record(401)
        return JSONResponse({"Status": "Error", "Message": "Invalid API key"}, 401)

    if not simulator.admit(api_key, now):
        headers = (
            {"Retry-After": simulator.retry_after_header(api_key, now)}
            if config.send_retry_after
            else {}
        )
        record(429)
        return JSONResponse(rate_limited_body(config), 429, headers=headers)

    fault = simulator.take_fault(path, is_status_route=is_status_route)
    if fault is not None:
        logger.debug("simulator fault %s on %s %s", fault.kind, method, path)
        if fault.kind is FaultKind.LATENCY:
            await asyncio.sleep(fault.seconds)
        replaced = _fault_response(fault, config)
        if replaced is not None:
            reset = fault.kind is FaultKind.CONNECTION_RESET
            record(None if reset else replaced.status_code, fault=fault.kind, counted=True)
            return replaced

    if is_status_route:
        answer = _status_answer(simulator, request, account)
    elif is_metrics_route:
        answer = _Answer(200, simulator.metrics(account))
    else:
        answer = await _capture_answer(simulator, request, account)

    response = (
        answer.to_response()
        if fault is None
        else _reshape(fault, answer, is_status_route=is_status_route)
    )
    record(
        response.status_code,
        request_id=answer.request_id,
        fault=None if fault is None else fault.kind,
        counted=True,
    )
    return response


async def _healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _account_query(request: Request) -> str | None:
    """The ``?account=NAME`` of a control route, if given (checked by the simulator)."""
    return request.query_params.get("account")


def _data_account(request: Request) -> str:
    """The account a control route that reads or changes data targets: the first by default."""
    account = _account_query(request)
    return DEFAULT_ACCOUNT if account is None else account


async def _unknown_account(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, UnknownAccountError)
    return JSONResponse({"error": str(exc), "accounts": list(exc.known)}, 404)


async def _get_calls(request: Request) -> Response:
    calls = _simulator(request).calls_of(_account_query(request))
    return JSONResponse([call.model_dump(mode="json") for call in calls])


async def _delete_calls(request: Request) -> Response:
    _simulator(request).reset_calls(_account_query(request))
    return JSONResponse({"calls": 0})


async def _get_fault(request: Request) -> Response:
    fault = _simulator(request).fault
    return JSONResponse({"fault": None if fault is None else fault.model_dump(mode="json")})


async def _set_fault(request: Request) -> Response:
    simulator = _simulator(request)
    raw = await request.body()
    try:
        data: object = json.loads(raw) if raw.strip() else None
    except ValueError:
        return JSONResponse({"error": "the body is not JSON: send a Fault object or null"}, 400)
    try:
        # null (or an empty body) clears the fault
        fault = None if data is None else Fault.model_validate(data)
    except ValidationError as exc:
        return JSONResponse({"error": exc.errors(include_url=False, include_context=False)}, 400)
    simulator.set_fault(fault)
    return JSONResponse({"fault": None if fault is None else fault.model_dump(mode="json")})


async def _put_answer(request: Request) -> Response:
    raw = await request.body()
    try:
        data: object = json.loads(raw)
    except (ValueError, RecursionError):
        return JSONResponse({"error": "the body is not JSON: send a TaskStatus object"}, 400)
    if not isinstance(data, dict):
        return JSONResponse({"error": "send a TaskStatus object"}, 400)
    request_id = str(request.path_params["request_id"])
    account = _data_account(request)
    _simulator(request).put_answer(request_id, data, account)  # pyright: ignore[reportUnknownArgumentType]
    return JSONResponse({"request_id": request_id.lower()})


async def _reset(request: Request) -> Response:
    _simulator(request).reset(_account_query(request))
    return JSONResponse({"reset": True})


async def _samples(request: Request) -> Response:
    samples = _simulator(request).samples(_data_account(request))
    return JSONResponse(
        {
            name: {
                "request_id": sample.request_id,
                "description": sample.description,
                "expected_status": sample.expected_status,
                "expected_outcome": sample.expected_outcome,
                "exception_type": sample.exception_type,
            }
            for name, sample in samples.items()
        }
    )


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    """Build the simulator app; its state is ``app.state.simulator`` (a :class:`Simulator`)."""
    simulator = Simulator(config)
    app = Starlette(
        routes=[
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/_sim/calls", _get_calls, methods=["GET"]),
            Route("/_sim/calls", _delete_calls, methods=["DELETE"]),
            Route("/_sim/fault", _get_fault, methods=["GET"]),
            Route("/_sim/fault", _set_fault, methods=["POST"]),
            Route("/_sim/reset", _reset, methods=["POST"]),
            Route("/_sim/samples", _samples, methods=["GET"]),
            Route("/_sim/answers/{request_id}", _put_answer, methods=["PUT"]),
            # everything else is the API host, which answers unknown paths like the gateway
            Route("/{path:path}", _api, methods=_ALL_METHODS),
        ],
        exception_handlers={UnknownAccountError: _unknown_account},
    )
    app.state.simulator = simulator
    return app
