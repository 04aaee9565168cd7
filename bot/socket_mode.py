"""Socket Mode: Slack delivers payloads over a websocket the app opens (no public URL).

Used when ``SLACK_APP_TOKEN`` (an ``xapp-`` app-level token with ``connections:write``) is
set. Signature checks do not apply (the websocket itself is authenticated by the token).
Acknowledgements go back over the websocket; answers still go to each payload's
``response_url``.

Given a bound socket, the runner also serves ``GET /healthz``, ``GET /readyz`` and
``GET /metrics`` there (for container health checks, probes and Prometheus), but never
``POST /slack/events``. ``/readyz`` is 200 while Slack accepted the bot token and the
websocket is open, and 503 ``draining`` from the stop until the answers in flight are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import cast

import aiohttp
from pydantic import SecretStr
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from bot.app import SlackBot
from bot.errors import StartupError
from bot.http_server import (
    LIVENESS_PATH,
    METRICS_PATH,
    READINESS_PATH,
    RunningServer,
    bot_readiness,
    create_health_app,
    start_http_server,
)
from bot.identity import slack_error_code
from bot.logs import slack_library_logger
from shared import ConfigurationError, HttpLimits, host_for_logs

__all__ = ["SocketModeConnection", "run_socket_mode"]

log = logging.getLogger(__name__)


class SocketModeConnection:
    """One Socket Mode connection of ``bot`` to Slack.

    Args:
        bot: the Bolt app (its web client's base URL decides where
            ``apps.connections.open`` is called).
        app_token: ``SLACK_APP_TOKEN``.
    """

    def __init__(self, bot: SlackBot, app_token: SecretStr) -> None:
        self._handler = AsyncSocketModeHandler(
            bot.app,
            app_token=app_token.get_secret_value(),
            logger=slack_library_logger(),
            web_client=bot.web_client,
        )

    async def connect(self) -> None:
        """Open the websocket.

        Raises:
            ConfigurationError: Slack refused the app-level token.
            StartupError: Slack could not be reached.
        """
        client = self._handler.client
        try:
            # asked here so a refused token is a clear error, not a reconnect loop
            client.wss_uri = await client.issue_new_wss_url()
        except SlackApiError as error:
            raise ConfigurationError(
                f"Slack refused SLACK_APP_TOKEN ({slack_error_code(error)}). Create an "
                "app-level token (xapp-…) with the connections:write scope on the app's "
                "'Basic Information' page, and turn Socket Mode on."
            ) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise StartupError(
                f"Slack could not be reached to open the Socket Mode connection "
                f"({type(error).__name__}); check the network, a proxy, or SLACK_API_URL."
            ) from None
        await self._handler.connect_async()
        log.info("Connected to Slack in Socket Mode")

    async def is_connected(self) -> bool:
        """Whether the websocket is open."""
        return await self._handler.client.is_connected()

    async def close(self) -> None:
        """Close the websocket and the client's session; stop its background tasks."""
        client = self._handler.client
        await self._handler.close_async()
        # the client cancels these without waiting; wait so none is left pending
        candidates: list[object] = [
            client.message_processor,  # pyright: ignore[reportUnknownMemberType]
            client.message_receiver,  # pyright: ignore[reportUnknownMemberType]
            client.current_session_monitor,  # pyright: ignore[reportUnknownMemberType]
        ]
        tasks = [
            cast("asyncio.Future[object]", task)
            for task in candidates
            if isinstance(task, asyncio.Future)
        ]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


async def run_socket_mode(
    bot: SlackBot,
    app_token: SecretStr,
    stop: asyncio.Event,
    *,
    drain_seconds: float,
    health_socket: socket.socket | None = None,
    http_limits: HttpLimits | None = None,
) -> None:
    """Serve ``bot`` over Socket Mode until ``stop`` is set, then finish answers in flight.

    Args:
        bot: the Bolt app.
        app_token: ``SLACK_APP_TOKEN``.
        stop: set to shut down.
        drain_seconds: how long a shutdown waits for answers in flight.
        health_socket: if given, a bound socket on which ``GET /healthz``, ``GET /readyz``
            (ready while the websocket is open, draining once ``stop`` is set) and
            ``GET /metrics`` are served from before the connection opens until the answers
            in flight are finished.
        http_limits: the bounds on clients of that server (defaults: the settings').

    Raises:
        ConfigurationError: Slack refused the app-level token.
        StartupError: Slack could not be reached.
    """
    connection = SocketModeConnection(bot, app_token)
    readiness = bot_readiness(bot, connected=connection.is_connected)
    server: RunningServer | None = None
    try:
        if health_socket is not None:
            app = create_health_app(bot, readiness=readiness)
            server = await start_http_server(app, health_socket, limits=http_limits)
            log.info(
                "Probes (%s, %s) and metrics (%s) on %s (Socket Mode)",
                LIVENESS_PATH,
                READINESS_PATH,
                METRICS_PATH,
                host_for_logs(server.url),
            )
        try:
            await connection.connect()
            await stop.wait()
            readiness.start_draining()
        finally:
            await connection.close()
        pending = bot.in_flight.count
        if pending:
            log.info("Shutting down: waiting for %d answer(s) in flight", pending)
        if not await bot.in_flight.drain(drain_seconds):
            log.warning("Shutdown grace ended with %d answer(s) unfinished", bot.in_flight.count)
    except asyncio.CancelledError:
        if server is not None:
            server.force_stop()
        raise
    finally:
        if server is not None:
            await server.stop()
