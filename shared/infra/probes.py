"""The two probes every HTTP server of capture-status answers, with one meaning each.

- ``GET /healthz``, **liveness**: **200** ``{"status": "alive"}`` whenever the process serves
  HTTP at all. It asks nothing of LeadSquared, Slack or Redis, so an outage of one of them
  never gets a healthy process restarted. Docker's ``HEALTHCHECK`` and Kubernetes'
  ``livenessProbe`` use it.
- ``GET /readyz``, **readiness**: **200** ``{"status": "ready"}`` once every condition the
  server registered (:meth:`Readiness.require`) holds; **503**
  ``{"status": "not_ready", "waiting_for": {name: why}}`` while one does not, and **503**
  ``{"status": "draining"}`` from the moment the server starts shutting down
  (:meth:`Readiness.start_draining`), so a load balancer stops sending it new work.
  Kubernetes' ``readinessProbe`` uses it.

Both are served without authentication (they carry no request data, only our own words
with secrets masked by whoever writes them). A condition mostly reads state the server keeps
anyway; one that asks something (the database of watches:
``readiness.require("store", service.watch_readiness)``, which says why watches cannot be
kept, e.g. "the database of watches does not answer") is bounded: the conditions are asked
together, and one that does not answer within ``check_seconds`` (2 s) counts as not ready,
so a database that hangs never holds a probe (or a pile of them) open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "LIVENESS_PATH",
    "READINESS_PATH",
    "Readiness",
    "ReadinessCheck",
    "liveness",
    "probe_routes",
    "readiness_endpoint",
]

log = logging.getLogger(__name__)

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"

#: one readiness condition: None once it holds, else what the server waits for (our words)
ReadinessCheck = Callable[[], Awaitable[str | None]]

_ALIVE = {"status": "alive"}

#: seconds one condition has to answer (Kubernetes' probe gives the whole answer 3 s)
CHECK_SECONDS = 2.0


class Readiness:
    """Whether a server can take work now: named conditions, and whether it is draining.

    Args:
        info: extra fields for every ``/readyz`` body (e.g. the answers in flight).
        check_seconds: how long one condition may take to answer; one slower is not ready.
    """

    def __init__(
        self,
        *,
        info: Callable[[], Mapping[str, object]] | None = None,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self._checks: dict[str, ReadinessCheck] = {}
        self._info = info
        self._draining = False
        self._check_seconds = check_seconds

    def require(self, name: str, check: ReadinessCheck) -> None:
        """Be ready only while ``check`` says so (a later call with ``name`` replaces it)."""
        self._checks[name] = check

    def start_draining(self) -> None:
        """The server is shutting down: not ready from now on, whatever the conditions say."""
        self._draining = True

    @property
    def draining(self) -> bool:
        """True once :meth:`start_draining` was called."""
        return self._draining

    async def waiting_for(self) -> dict[str, str]:
        """The conditions that do not hold now, each with what it waits for (empty: ready)."""
        names = list(self._checks)
        answers = await asyncio.gather(*(self._ask(name, self._checks[name]) for name in names))
        return {name: why for name, why in zip(names, answers, strict=True) if why is not None}

    async def _ask(self, name: str, check: ReadinessCheck) -> str | None:
        try:
            async with asyncio.timeout(self._check_seconds):
                return await check()
        except TimeoutError:
            return f"its check did not answer within {self._check_seconds:g} s"
        except Exception as error:  # a broken check means "not ready", never a 500
            log.debug("readiness check %s failed", name, exc_info=True)
            return f"its check failed ({type(error).__name__})"

    async def answer(self) -> tuple[int, dict[str, object]]:
        """The HTTP status and JSON body of ``GET /readyz`` now."""
        extra = dict(self._info()) if self._info is not None else {}
        if self._draining:
            return 503, {"status": "draining", **extra}
        waiting = await self.waiting_for()
        if waiting:
            return 503, {"status": "not_ready", "waiting_for": waiting, **extra}
        return 200, {"status": "ready", **extra}


async def liveness(_: Request) -> Response:
    """``GET /healthz``: 200 ``{"status": "alive"}``, always (the process answers HTTP)."""
    return JSONResponse(_ALIVE)


def readiness_endpoint(readiness: Readiness) -> Callable[[Request], Awaitable[Response]]:
    """``GET /readyz`` for ``readiness``: 200 when ready, else 503 saying what it waits for."""

    async def readyz(_: Request) -> Response:
        status, body = await readiness.answer()
        return JSONResponse(body, status_code=status)

    return readyz


def probe_routes(readiness: Readiness) -> list[Route]:
    """``GET /healthz`` and ``GET /readyz`` as Starlette routes."""
    return [
        Route(LIVENESS_PATH, liveness, methods=["GET"]),
        Route(READINESS_PATH, readiness_endpoint(readiness), methods=["GET"]),
    ]
