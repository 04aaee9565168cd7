"""Streamable HTTP: ``/mcp`` behind bearer tokens and Host/Origin checks.

``GET /healthz`` (liveness), ``GET /readyz`` (readiness) and ``GET /metrics`` (Prometheus) are
served without a token for probes and scrapers: they expose no request data. Keep
``/metrics`` off the public ingress. uvicorn runs with the shared bounds on clients
(:func:`shared.infra.serving.hardened_config`); request bodies are capped by the SDK (4 MiB).
On SIGTERM or SIGINT ``/readyz`` turns to 503 ``draining`` at once (:class:`DrainingServer`),
then uvicorn stops accepting connections and finishes the open requests.

Session choice: the app is **stateless** (``stateless_http=True``) and answers with SSE
streams (``json_response=False``).

- 2026-era clients (protocol 2026-07-28) are sessionless whatever the setting: every POST
  carries everything, so any replica behind a load balancer can answer it.
- Legacy clients (2024-11-05 … 2025-11-25) would otherwise get an ``Mcp-Session-Id`` bound
  to the replica that created it, which needs sticky routing. Stateless mode serves each
  of their POSTs on its own too, so they work behind a plain round-robin load balancer.
  Nothing is lost: every tool is a single request and none asks the client anything back.
- SSE responses (rather than plain JSON) let ``wait_for_capture`` stream its progress
  notifications before the result; quick answers still arrive as one event.

The DNS-rebinding guard (:class:`HostGuard`) stands in front of **every** route, the probes
included, so a page on a rebound name cannot read ``/healthz``, ``/readyz`` or ``/metrics``
either: a Host
not in ``MCP_ALLOWED_HOSTS`` gets 421, a foreign Origin 403. One Host is accepted besides
the list: the address the connection arrived on, written as an IP address (``127.0.0.1:8000``
from the Docker HEALTHCHECK, ``10.1.2.3:8000`` from a kubelet probe or a Prometheus scrape of
the pod), and ``localhost`` on a loopback connection. A rebinding attack cannot send either,
since the browser sends the attacker's host name. The SDK's own check (``/mcp`` only, and
off for a non-loopback bind address) is left off: this one replaces it.
"""

from __future__ import annotations

import ipaddress
import logging
from types import FrameType
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.auth import BearerTokenAuth, http_tokens
from mcp_server.server import METRICS_PATH
from mcp_server.state import ServerState
from shared import (
    LIVENESS_PATH,
    LOOPBACK_NAMES,
    READINESS_PATH,
    HttpLimits,
    Readiness,
    Settings,
    hardened_config,
    is_loopback,
)

__all__ = [
    "MCP_PATH",
    "DrainingServer",
    "HostGuard",
    "build_http_app",
    "http_config",
    "is_loopback",
    "serve_http",
    "transport_security",
]

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
#: how long uvicorn waits for open requests (a wait_for_capture stream) on shutdown
_GRACE_SECONDS = 10


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The Host/Origin allowlist from ``MCP_ALLOWED_HOSTS`` (origins: http/https of each)."""
    hosts = list(settings.mcp_allowed_hosts)
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def _host_name(entry: str) -> str:
    """The name part of a Host value such as ``[::1]:*`` or ``example.com:443``."""
    if entry.startswith("["):
        return entry[1 : entry.find("]")] if "]" in entry else entry
    return entry.partition(":")[0]


def _matches(value: str, patterns: list[str]) -> bool:
    """``value`` is one of ``patterns``, or matches ``name:*`` with any port (as the SDK)."""
    return any(
        value == pattern or (pattern.endswith(":*") and value.startswith(pattern[:-1]))
        for pattern in patterns
    )


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class HostGuard:
    """The DNS-rebinding guard for every HTTP route: 421 for a foreign Host, 403 for an Origin.

    Args:
        app: the app behind the guard.
        security: the allowed Host and Origin values (:func:`transport_security`).
    """

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self._app = app
        self._hosts = list(security.allowed_hosts)
        self._origins = list(security.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            refusal: PlainTextResponse | None = None
            if not self._host_allowed(headers.get("host", ""), scope.get("server")):
                refusal = PlainTextResponse("Invalid Host header\n", status_code=421)
            elif not self._origin_allowed(headers.get("origin")):
                refusal = PlainTextResponse("Invalid Origin header\n", status_code=403)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _host_allowed(self, host: str, server: Any) -> bool:
        if not host:
            return False
        if _matches(host, self._hosts):
            return True
        if not isinstance(server, tuple | list) or not server:
            return False
        arrived_on = _ip(str(server[0]))  # pyright: ignore[reportUnknownArgumentType]
        if arrived_on is None:
            return False
        name = _host_name(host)
        if _ip(name) == arrived_on:
            return True
        return arrived_on.is_loopback and name.lower() in LOOPBACK_NAMES

    def _origin_allowed(self, origin: str | None) -> bool:
        return not origin or _matches(origin, self._origins)


def build_http_app(server: MCPServer[ServerState], settings: Settings) -> ASGIApp:
    """The ASGI app serving ``server`` at ``/mcp`` (authenticated), the probes and ``/metrics``.

    Every route sits behind :class:`HostGuard`, then the bearer token (but the probes).

    Raises:
        ConfigurationError: no token is configured, or one is short (see :func:`http_tokens`).
    """
    tokens = http_tokens(settings)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=False,
        # the HostGuard in front checks every route; the SDK's covers /mcp alone
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    authenticated = BearerTokenAuth(
        app, tokens=tokens, open_paths={LIVENESS_PATH, READINESS_PATH, METRICS_PATH}
    )
    return HostGuard(authenticated, transport_security(settings))


def http_config(app: ASGIApp, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration for ``app``, bounded like ``hardened_config``."""
    config, _ = hardened_config(
        app,
        HttpLimits.from_settings(settings),
        graceful_shutdown_seconds=_GRACE_SECONDS,
        host=host,
        port=port,
    )
    return config


class DrainingServer(uvicorn.Server):
    """uvicorn's server, marking ``readiness`` draining as soon as a shutdown signal arrives.

    Args:
        config: uvicorn's configuration (:func:`http_config`).
        readiness: what ``GET /readyz`` reports (given to ``build_server`` too).
    """

    def __init__(self, config: uvicorn.Config, readiness: Readiness) -> None:
        super().__init__(config)
        self._readiness = readiness

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._readiness.start_draining()
        super().handle_exit(sig, frame)


async def serve_http(
    app: ASGIApp,
    settings: Settings,
    *,
    host: str,
    port: int,
    readiness: Readiness | None = None,
) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM (then shut down gracefully).

    Args:
        app: the app of :func:`build_http_app`.
        settings: the process's settings.
        host: the address to listen on.
        port: the port to listen on.
        readiness: the server's readiness (``build_server(readiness=...)``): marked draining
            on the first signal, before uvicorn stops accepting connections.
    """
    allowed = settings.mcp_allowed_hosts
    if not is_loopback(host) and all(is_loopback(_host_name(entry)) for entry in allowed):
        log.warning(
            "listening on %s, but MCP_ALLOWED_HOSTS only allows loopback names, so every "
            "request from elsewhere gets 421: set MCP_ALLOWED_HOSTS to the host name(s) "
            "clients use (e.g. mcp.example.com,mcp.example.com:*)",
            host,
        )
    # one "Terminating session: None" line per stateless request says nothing useful
    logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)
    config = http_config(app, settings, host=host, port=port)
    log.info("serving MCP over streamable HTTP at http://%s:%d%s", host, port, MCP_PATH)
    server = uvicorn.Server(config) if readiness is None else DrainingServer(config, readiness)
    await server.serve()
