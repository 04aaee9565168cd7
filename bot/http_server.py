"""HTTP mode under uvicorn: ``POST /slack/events``, the probes and ``GET /metrics``.

Socket Mode serves the probes and ``/metrics`` alone (:func:`create_health_app`), with the
same routes (:func:`health_routes`) and the same uvicorn helper (:func:`start_http_server`).

The probes mean what they mean on every server (:mod:`shared.infra.probes`): ``GET /healthz``
is liveness (200 while the process serves HTTP, whatever Slack or LeadSquared do);
``GET /readyz`` is readiness (:func:`bot_readiness`): 200 once Slack accepted the bot token
(``auth.test``), while the store of watches answers (``store``, when the process keeps
watches) and, in Socket Mode, while the websocket is open; 503 saying what it waits for
otherwise, and 503 ``draining`` once a shutdown began. The LeadSquared client needs no
condition: it is opened before the server listens and closed after it stops. Every
``/readyz`` body carries ``in_flight``, the answers still being worked on.

``POST /slack/events`` reads at most ``max_body_bytes`` (1 MB; 413 by Content-Length at once,
or as soon as a streamed body grows past it; 408 when the body is slower than the header
timeout), then checks Slack's signature and age on the raw bytes (401), and only then decodes
and parses the body (400 for anything Slack would never send: not UTF-8, broken JSON, not an
object). What passes goes to Bolt's dispatch, with the answer converted by Bolt's Starlette
adapter. The server itself is bounded by :func:`shared.infra.serving.hardened_config` (connections,
header timeout, header size, keep-alive).

On shutdown ``/readyz`` turns to 503, uvicorn stops accepting requests and finishes the open
ones; the lifespan then waits for answers still in flight (lookups that were acknowledged but
not yet answered) before the client is closed.

The probes and ``/metrics`` (Prometheus, the client's counters) need no signature, for
probes and scrapers: they expose no request data, but keep ``/metrics`` on an internal port
or ingress, never on the public route Slack posts to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator

import uvicorn
from pydantic import SecretStr
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app import SlackBot
from shared import (
    LIVENESS_PATH,
    READINESS_PATH,
    BodyTooLarge,
    BodyTooSlow,
    HttpLimits,
    Readiness,
    hardened_config,
    metrics_app,
    probe_routes,
    read_body,
)

__all__ = [
    "EVENTS_PATH",
    "LIVENESS_PATH",
    "METRICS_PATH",
    "READINESS_PATH",
    "RunningServer",
    "bot_readiness",
    "create_health_app",
    "create_http_app",
    "health_routes",
    "start_http_server",
]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
METRICS_PATH = "/metrics"
#: how long uvicorn waits for open HTTP requests (acks are fast) before closing them
_HTTP_GRACE_SECONDS = 10
#: Slack refuses requests older than this (its documented replay window)
_MAX_AGE_SECONDS = 5 * 60


class _AsgiEndpoint:
    """An ASGI app as a route's endpoint (Starlette calls a plain function with a Request)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def bot_readiness(
    bot: SlackBot, *, connected: Callable[[], Awaitable[bool]] | None = None
) -> Readiness:
    """When ``bot`` can answer: Slack accepted its token, the store of watches answers (when
    the service keeps watches), and (Socket Mode) the socket is open.

    Args:
        bot: the Bolt app with its token check and in-flight counter.
        connected: Socket Mode only: says whether the websocket is open.
    """
    readiness = Readiness(info=lambda: {"in_flight": bot.in_flight.count})

    async def slack_identity() -> str | None:
        if bot.identity.verified:
            return None
        return "Slack has not yet accepted SLACK_BOT_TOKEN (auth.test)"

    readiness.require("slack_identity", slack_identity)
    if bot.service.store is not None:  # watches: lookups work without it, but not ready
        readiness.require("store", bot.service.watch_readiness)
    if connected is not None:
        is_connected = connected

        async def slack_connection() -> str | None:
            return None if await is_connected() else "the Socket Mode websocket is not open"

        readiness.require("slack_connection", slack_connection)
    return readiness


def health_routes(bot: SlackBot, readiness: Readiness) -> list[Route]:
    """``GET /healthz``, ``GET /readyz`` and ``GET /metrics`` for ``bot``, shared by both modes.

    ``/healthz`` is liveness and ``/readyz`` readiness, as ``readiness`` says
    (:mod:`shared.infra.probes`). ``/metrics`` serves the Prometheus metrics of the bot's
    LeadSquared client.

    Args:
        bot: the Bolt app with its LeadSquared client.
        readiness: what ``/readyz`` reports (:func:`bot_readiness`).
    """
    return [
        *probe_routes(readiness),
        Route(
            METRICS_PATH,
            _AsgiEndpoint(metrics_app(bot.service.clients, watcher=lambda: bot.watcher.current)),
            methods=["GET"],
        ),
    ]


def create_health_app(bot: SlackBot, *, readiness: Readiness) -> Starlette:
    """Socket Mode's ASGI app: the probes and ``/metrics`` only, no ``/slack/events``.

    Payloads come over the websocket, so nothing here accepts them; the Socket Mode runner
    waits for the answers in flight itself, and marks ``readiness`` draining when it stops.

    Args:
        bot: the Bolt app.
        readiness: what ``/readyz`` reports (:func:`bot_readiness` with the websocket's state).
    """
    return Starlette(routes=health_routes(bot, readiness))


def create_http_app(
    bot: SlackBot,
    *,
    drain_seconds: float,
    limits: HttpLimits | None = None,
    readiness: Readiness | None = None,
) -> Starlette:
    """The ASGI app serving ``bot``: Slack's requests, the probes and ``/metrics``.

    ``GET /metrics`` serves the Prometheus metrics of the bot's LeadSquared client (lookups,
    upstream calls, retries, throttles, cache, rate budget, breaker). Like the probes it is
    not authenticated (it carries no request data), so it belongs on an internal port or
    ingress only: expose ``/slack/events`` alone to the internet.

    Args:
        bot: the Bolt app with its in-flight counter and signing secret.
        drain_seconds: how long a shutdown waits for answers in flight.
        limits: the body size and read time of ``/slack/events`` (defaults: the settings').
        readiness: what ``/readyz`` reports (default: :func:`bot_readiness`); whoever stops
            the server marks it draining first, as ``python -m bot`` does on SIGTERM.
    """
    limits = limits or HttpLimits.defaults()
    readiness = readiness or bot_readiness(bot)
    secret = bot.signing_secret

    async def events(request: Request) -> Response:
        checked = await _checked_request(request, secret, limits)
        if isinstance(checked, Response):
            return checked
        return to_starlette_response(await bot.app.async_dispatch(checked))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncGenerator[None]:
        yield
        pending = bot.in_flight.count
        if pending:
            log.info("Shutting down: waiting for %d answer(s) in flight", pending)
        if not await bot.in_flight.drain(drain_seconds):
            log.warning(
                "Shutdown grace of %.0f s ended with %d answer(s) unfinished",
                drain_seconds,
                bot.in_flight.count,
            )

    return Starlette(
        routes=[
            Route(EVENTS_PATH, events, methods=["POST"]),
            *health_routes(bot, readiness),
        ],
        lifespan=lifespan,
    )


def _refusal(status: int, reason: str) -> Response:
    return PlainTextResponse(reason + "\n", status_code=status)


async def _checked_request(
    request: Request, secret: SecretStr | None, limits: HttpLimits
) -> AsyncBoltRequest | Response:
    """Slack's request as Bolt reads it, or the refusal (413, 408, 401, 400) to send instead.

    Nothing of the body is decoded or parsed before its signature is checked.
    """
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if secret is None or not _is_fresh(timestamp) or not signature:
        return _refusal(401, "Unsigned or stale request.")
    try:
        body = await read_body(
            request,
            max_bytes=limits.max_body_bytes,
            timeout_seconds=limits.header_timeout_seconds,
        )
    except BodyTooLarge:
        return _refusal(413, "Request body too large.")
    except BodyTooSlow:
        return _refusal(408, "Request body too slow.")
    except ClientDisconnect:
        return _refusal(400, "Client disconnected.")
    if not _is_signed(body, timestamp, signature, secret):
        return _refusal(401, "Invalid signature.")
    try:
        text = body.decode("utf-8")
        if not isinstance(parse_body(text, request.headers.get("content-type")), dict):  # pyright: ignore[reportUnnecessaryIsInstance]
            return _refusal(400, "Unreadable request body.")
        bolt_request = AsyncBoltRequest(
            body=text,
            query=request.url.query,
            headers={name: request.headers.getlist(name) for name in request.headers},
        )
    # not UTF-8, not JSON, or fields of the wrong type where Bolt reads the team, user, …
    except (ValueError, TypeError, AttributeError, KeyError):
        return _refusal(400, "Unreadable request body.")
    return bolt_request


def _is_fresh(timestamp: str) -> bool:
    # isdigit() alone admits "²", which int() refuses: ASCII digits only
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    return abs(time.time() - int(timestamp)) <= _MAX_AGE_SECONDS


def _is_signed(body: bytes, timestamp: str, signature: str, secret: SecretStr) -> bool:
    """Slack's ``v0`` signature over the raw bytes (slack-sdk's verifier takes text only)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.get_secret_value().encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={digest}".encode(), signature.encode("utf-8", "replace"))


class _Server(uvicorn.Server):
    """uvicorn without its signal handling (the entry point owns signals) and with a
    started event instead of a flag to poll."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class RunningServer:
    """A uvicorn server running in the current event loop.

    Attributes:
        url: the base URL, e.g. ``http://127.0.0.1:3000``.
    """

    def __init__(self, url: str, server: _Server, task: asyncio.Task[None]) -> None:
        self.url = url
        self._server = server
        self._task = task

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does)."""
        self._server.should_exit = True

    def force_stop(self) -> None:
        """Stop without waiting for open requests (a second Ctrl-C)."""
        self._server.force_exit = True

    async def wait(self) -> None:
        """Wait until the server has stopped (its lifespan shutdown included)."""
        await asyncio.shield(self._task)

    @property
    def stopped(self) -> bool:
        """True once the server has stopped."""
        return self._task.done()

    async def stop(self) -> None:
        """Shut down gracefully and wait for it."""
        self.request_stop()
        await self.wait()


async def _serve(server: _Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:
        # uvicorn answers a failed startup with sys.exit(), which would end the whole loop
        raise RuntimeError(f"uvicorn exited with status {exc.code}") from None


async def start_http_server(
    app: Starlette,
    sock: socket.socket,
    *,
    limits: HttpLimits | None = None,
    startup_timeout: float = 10.0,
) -> RunningServer:
    """Serve ``app`` on the bound ``sock`` as a task; return once it accepts requests.

    Args:
        app: the ASGI app.
        sock: a bound socket (``shared.infra.sockets.bind_socket``).
        limits: the bounds on clients (defaults: the settings'), see
            :func:`shared.infra.serving.hardened_config`.
        startup_timeout: how long to wait for the server to start.

    Raises:
        RuntimeError: the server stopped while starting (its lifespan failed).
        TimeoutError: it did not start within ``startup_timeout`` seconds.
    """
    config, _ = hardened_config(
        app, limits or HttpLimits.defaults(), graceful_shutdown_seconds=_HTTP_GRACE_SECONDS
    )
    server = _Server(config)
    task = asyncio.create_task(_serve(server, sock), name="slack-http")
    ready = asyncio.create_task(server.ready.wait())
    try:
        async with asyncio.timeout(startup_timeout):
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    except TimeoutError:
        server.should_exit = server.force_exit = True
        await asyncio.gather(task, return_exceptions=True)
        raise
    finally:
        ready.cancel()
    if not server.ready.is_set() or task.done():
        await asyncio.gather(task, return_exceptions=True)
        raise RuntimeError("the Slack app's HTTP server stopped while starting")
    host, port = sock.getsockname()[:2]
    url_host = f"[{host}]" if ":" in host else host
    return RunningServer(f"http://{url_host}:{port}", server, task)
