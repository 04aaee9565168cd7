"""``python -m mcp_server``: serve MCP over stdio (default) or streamable HTTP.

Exit status: 0 after a clean shutdown, 2 for a configuration problem (the message says
which setting to fix; never a traceback), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigurationError,
    Settings,
    StartupCheck,
    StartupFailed,
    check_accounts,
    report,
    start,
)

__all__ = ["check_http_tokens", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_server",
        description="Serve the capture-status MCP server (LeadSquared async capture requests).",
        epilog="stdio carries only the protocol on stdout; logs go to stderr. Settings come "
        "from the environment and .env (see docs/mcp.md).",
    )
    parser.add_argument(
        "--transport",
        choices=["stdio", "http", "streamable-http"],
        default="stdio",
        help="stdio (default, for local clients) or streamable HTTP (needs MCP_AUTH_TOKENS)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (8000)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mcp_server``."""
    args = _parser().parse_args(argv)
    stdio = args.transport == "stdio"
    checks: list[StartupCheck] = [check_accounts if stdio else check_http_tokens]
    try:
        settings = start(checks=checks)
    except StartupFailed as failed:
        return failed.exit_code
    try:
        if args.transport == "stdio":
            _serve_stdio(settings)
        else:
            _serve_http(settings, host=args.host, port=args.port)
    except ConfigurationError as error:
        return report(error.message, EXIT_USAGE)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


def _serve_stdio(settings: Settings) -> None:
    import anyio

    from mcp_server.server import build_server

    anyio.run(build_server(settings).run_stdio_async)


def check_http_tokens(settings: Settings) -> None:
    """The HTTP transport's start-up check, run before the SDK's imports: the accounts file
    with its ``[mcp_tokens]``, and at least one usable token.

    Raises:
        ConfigurationError: a problem of the accounts file, or no token could be accepted.
    """
    from mcp_server.auth import http_tokens

    http_tokens(settings)


def _serve_http(settings: Settings, *, host: str, port: int) -> None:
    import anyio

    from mcp_server.http_app import build_http_app, serve_http
    from mcp_server.server import build_server
    from shared import Readiness

    readiness = Readiness()
    app = build_http_app(build_server(settings, readiness=readiness), settings)
    anyio.run(lambda: serve_http(app, settings, host=host, port=port, readiness=readiness))


if __name__ == "__main__":
    sys.exit(main())
