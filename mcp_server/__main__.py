"""``python -m mcp_server``: serve MCP over stdio (default) or streamable HTTP.

Exit status: 0 after a clean shutdown, 2 for a configuration problem (the message says
which setting to fix; never a traceback), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from shared import ConfigurationError, Settings, configure_logging, load_settings

__all__ = ["main"]

EXIT_OK = 0
EXIT_CONFIGURATION = 2
EXIT_INTERRUPTED = 130


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
    try:
        settings = load_settings()
    except ConfigurationError as error:
        sys.stderr.write(error.message + "\n")
        return EXIT_CONFIGURATION
    configure_logging(
        settings.lsq_log_level, settings.lsq_log_format, secrets=settings.secret_values()
    )
    try:
        if args.transport == "stdio":
            _serve_stdio(settings)
        else:
            _serve_http(settings, host=args.host, port=args.port)
    except ConfigurationError as error:
        sys.stderr.write(error.message + "\n")
        return EXIT_CONFIGURATION
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


def _serve_stdio(settings: Settings) -> None:
    import anyio

    from mcp_server.server import build_server

    anyio.run(build_server(settings).run_stdio_async)


def _serve_http(settings: Settings, *, host: str, port: int) -> None:
    from mcp_server.auth import check_tokens

    # refuse at once, before the SDK's imports, when no token could ever be accepted
    problems = check_tokens(token.get_secret_value() for token in settings.mcp_auth_tokens)
    if problems:
        raise ConfigurationError(
            "capture-status cannot serve MCP over HTTP:\n  - " + "\n  - ".join(problems)
        )

    import anyio

    from mcp_server.http_app import build_http_app, serve_http
    from mcp_server.server import build_server

    app = build_http_app(build_server(settings), settings)
    anyio.run(lambda: serve_http(app, settings, host=host, port=port))


if __name__ == "__main__":
    sys.exit(main())
