"""Streamable HTTP: ``/mcp`` behind bearer tokens and Host/Origin checks.

``GET /healthz`` and ``GET /metrics`` (Prometheus) are served without a token for probes and
scrapers: they expose no request data. Keep ``/metrics`` off the public ingress.

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

The DNS-rebinding guard is always configured explicitly from ``MCP_ALLOWED_HOSTS`` (the SDK
would turn it off for a non-loopback bind address): a foreign Host gets 421, a foreign
Origin 403.
"""

from __future__ import annotations

import ipaddress
import logging

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from mcp_server.auth import BearerTokenAuth, check_tokens
from mcp_server.server import HEALTH_PATH, METRICS_PATH
from mcp_server.state import ServerState
from shared.errors import ConfigurationError
from shared.settings import Settings

__all__ = ["MCP_PATH", "build_http_app", "is_loopback", "serve_http", "transport_security"]

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The Host/Origin allowlist from ``MCP_ALLOWED_HOSTS`` (origins: http/https of each)."""
    hosts = list(settings.mcp_allowed_hosts)
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host name, without port) is loopback only."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(entry: str) -> str:
    """The name part of a Host value such as ``[::1]:*`` or ``example.com:443``."""
    if entry.startswith("["):
        return entry[1 : entry.find("]")] if "]" in entry else entry
    return entry.partition(":")[0]


def build_http_app(server: MCPServer[ServerState], settings: Settings) -> ASGIApp:
    """The ASGI app serving ``server`` at ``/mcp`` (authenticated), ``/healthz`` and ``/metrics``.

    Raises:
        ConfigurationError: ``MCP_AUTH_TOKENS`` is empty or holds a short token.
    """
    tokens = [token.get_secret_value() for token in settings.mcp_auth_tokens]
    problems = check_tokens(tokens)
    if problems:
        raise ConfigurationError(
            "capture-status cannot serve MCP over HTTP:\n  - " + "\n  - ".join(problems)
        )
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=False,
        transport_security=transport_security(settings),
    )
    return BearerTokenAuth(app, tokens=tokens, open_paths={HEALTH_PATH, METRICS_PATH})


async def serve_http(app: ASGIApp, settings: Settings, *, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until SIGINT/SIGTERM (then shut down gracefully)."""
    import uvicorn

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
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    log.info("serving MCP over streamable HTTP at http://%s:%d%s", host, port, MCP_PATH)
    await uvicorn.Server(config).serve()
