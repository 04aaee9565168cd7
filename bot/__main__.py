"""``python -m bot``: run the Slack app until SIGINT or SIGTERM.

Socket Mode when ``SLACK_APP_TOKEN`` is set; otherwise an HTTP server with
``POST /slack/events``. Both listen on ``--host``/``--port`` (default ``127.0.0.1:3000``) for
``GET /healthz`` (liveness), ``GET /readyz`` (readiness) and ``GET /metrics``; Socket Mode
serves only those there. The process keeps watches in the store ``DATABASE_URL`` names and
runs the watcher, which tells people by DM (and in threads) when a watched request is final.
Settings are read once, here (:func:`shared.startup.start`). A configuration problem
prints one message and exits with status 2, without a traceback. The first signal turns
``/readyz`` to 503, stops taking new requests, finishes the answers in flight, stops the
triage jobs (each says so in its progress message) and the watcher (its watches stay in the
store); a second one stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncGenerator, Sequence

import aiohttp

from bot.app import build_slack_bot
from bot.errors import StartupError
from bot.http_server import EVENTS_PATH, bot_readiness, create_http_app, start_http_server
from bot.identity import BotIdentity, keep_verifying
from bot.logs import install_payload_filter
from bot.socket_mode import run_socket_mode
from bot.watch_listeners import SUBSCRIBER_KIND
from shared import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigurationError,
    HttpLimits,
    Settings,
    StartupFailed,
    bind_socket,
    check_accounts,
    host_for_logs,
    open_service,
    open_store,
    report,
    running_watcher,
    start,
)

__all__ = ["DEFAULT_PORT", "check_slack_settings", "main", "serve"]

log = logging.getLogger("bot")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
#: extra time after the lookup deadline for an answer to reach Slack during a shutdown
_ANSWER_SECONDS = 10.0
#: pauses between checks of SLACK_BOT_TOKEN while Slack cannot be reached (the last repeats)
_TOKEN_CHECK_PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Run the capture-status Slack app: Socket Mode when SLACK_APP_TOKEN is "
        "set, otherwise an HTTP server for Slack's requests.",
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one). HTTP mode "
        "serves /slack/events, /healthz, /readyz and /metrics there; Socket Mode only "
        "/healthz, /readyz and /metrics (keep it internal)",
    )
    return parser


def check_slack_settings(settings: Settings) -> None:
    """Check the Slack settings the chosen mode needs.

    Raises:
        ConfigurationError: one message naming every missing setting.
    """
    problems: list[str] = []
    if settings.slack_bot_token is None:
        problems.append(
            "SLACK_BOT_TOKEN: is not set; copy the Bot User OAuth Token (xoxb-…) from the "
            "app's 'OAuth & Permissions' page"
        )
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        problems.append(
            "SLACK_SIGNING_SECRET: is not set; HTTP mode needs it to verify that requests "
            "come from Slack (the app's 'Basic Information' page). To use Socket Mode "
            "instead, set SLACK_APP_TOKEN"
        )
    if problems:
        raise ConfigurationError(
            "capture-status cannot start the Slack app; fix these settings (environment or "
            ".env):\n  - " + "\n  - ".join(problems)
        )


async def serve(settings: Settings, *, host: str, port: int, stop: asyncio.Event) -> None:
    """Run the Slack app until ``stop`` is set, then finish the answers in flight.

    Raises:
        ConfigurationError: a setting is missing, or Slack refused a token.
        StartupError: the HTTP address cannot be bound, or Slack cannot be reached.
    """
    check_slack_settings(settings)
    socket_mode = settings.slack_app_token is not None
    drain_seconds = settings.lsq_lookup_deadline_seconds + _ANSWER_SECONDS
    async with contextlib.AsyncExitStack() as resources:
        # the store of watches: a database that does not answer is said once in the log
        # (and on /readyz); lookups work without it
        store = await resources.enter_async_context(open_store(settings))
        service = await resources.enter_async_context(open_service(settings, store=store))
        connection = "Socket Mode" if socket_mode else "HTTP"
        bot = build_slack_bot(settings, service, connection=connection)
        # triage jobs do not survive a restart: stopped (each says so) before the service closes
        resources.push_async_callback(bot.jobs.close)
        await resources.enter_async_context(_token_checked(bot.identity))
        # checks due watches and tells people; stopped (its leases given up for other
        # replicas) after the server, before the service and the store close
        bot.watcher.current = await resources.enter_async_context(
            running_watcher(service, notifiers={SUBSCRIBER_KIND: bot.notifier})
        )
        # Start-up objects (imports, Bolt, pydantic models) live as long as the process: keep
        # them out of later collections, whose full passes otherwise stall acks by ~50 ms.
        gc.collect()
        gc.freeze()
        try:
            sock = bind_socket(host, port)
        except OSError as error:
            raise StartupError(f"capture-status cannot listen on {host}:{port}: {error}") from None
        limits = HttpLimits.from_settings(settings)
        if settings.slack_app_token is not None:
            await run_socket_mode(
                bot,
                settings.slack_app_token,
                stop,
                drain_seconds=drain_seconds,
                health_socket=sock,
                http_limits=limits,
            )
            return
        readiness = bot_readiness(bot)
        app = create_http_app(bot, drain_seconds=drain_seconds, limits=limits, readiness=readiness)
        server = await start_http_server(app, sock, limits=limits)
        log.info("Slack app listening on %s%s (HTTP mode)", host_for_logs(server.url), EVENTS_PATH)
        stopping = asyncio.create_task(stop.wait())
        serving = asyncio.create_task(server.wait())
        await asyncio.wait({stopping, serving}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        readiness.start_draining()
        await server.stop()


@contextlib.asynccontextmanager
async def _token_checked(identity: BotIdentity) -> AsyncGenerator[None]:
    """Check ``SLACK_BOT_TOKEN`` with Slack now; while Slack cannot be reached, in the background.

    Raises:
        ConfigurationError: Slack refused the token.
    """
    try:
        await identity.verify()
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning(
            "Slack could not be reached to check SLACK_BOT_TOKEN (%s); /readyz answers 503 "
            "until Slack accepts it (asked again in the background, and on the first request)",
            type(error).__name__,
        )
    if identity.verified:
        yield
        return
    retrying = asyncio.create_task(
        keep_verifying(identity.verify, pauses=_TOKEN_CHECK_PAUSES), name="check SLACK_BOT_TOKEN"
    )
    try:
        yield
    finally:
        retrying.cancel()
        await asyncio.gather(retrying, return_exceptions=True)


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set() and main_task is not None:
            main_task.cancel()  # second signal: stop now
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await serve(settings, host=args.host, port=args.port, stop=stop)
    except ConfigurationError as error:
        return report(error.message, EXIT_USAGE)
    except StartupError as error:
        return report(error.message, EXIT_FAILED)
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bot``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = start(checks=[check_slack_settings, check_accounts])
    except StartupFailed as failed:
        return failed.exit_code
    install_payload_filter()
    try:
        return asyncio.run(_run(settings, args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
