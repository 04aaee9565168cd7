"""Building the Bolt app from the settings and the client: listener wiring only."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.error import BoltError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    async_default_handlers,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Allowlist
from bot.actions import (
    COMMAND_PATTERN,
    METRICS_REFRESH,
    OPEN_PATTERN,
    REFRESH,
    SHARE,
    SHORTCUT_CALLBACK_ID,
    STOP_WATCH,
    WATCH,
)
from bot.home import Configuration
from bot.identity import BotIdentity
from bot.inflight import InFlight
from bot.listeners import AnswerOptions, Listeners
from bot.logs import slack_library_logger
from bot.notify import Pacer, SlackNotifier
from bot.triage_jobs import TriageJobs, TriageOptions
from shared import CaptureService, ConfigurationError, Settings, Watcher

__all__ = ["DEFAULT_WEB_API_URL", "SlackBot", "build_slack_bot", "web_api_url"]

DEFAULT_WEB_API_URL = "https://slack.com/api/"

BoltAuthorize = Callable[..., Awaitable[AuthorizeResult]]
#: the longest one Web API call of a notification may take
_NOTIFY_TIMEOUT_SECONDS = 10


@dataclass(slots=True)
class WatcherSlot:
    """The process's watcher once it runs (``/metrics`` reads its figures through this)."""

    current: Watcher | None = None


@dataclass(frozen=True, slots=True)
class SlackBot:
    """The Bolt app and what its runners need: the token check, in-flight count, triage jobs
    (stopped on shutdown with :meth:`TriageJobs.close`), service, and the notifier the
    watcher tells people through."""

    app: AsyncApp
    identity: BotIdentity
    in_flight: InFlight
    jobs: TriageJobs
    web_client: AsyncWebClient
    service: CaptureService
    notifier: SlackNotifier
    #: what HTTP mode checks each request's signature with (None in Socket Mode)
    signing_secret: SecretStr | None = None
    #: the watcher, set by the entry point once it runs
    watcher: WatcherSlot = field(default_factory=WatcherSlot)


def web_api_url(slack_api_url: str | None) -> str:
    """The Web API base for ``SLACK_API_URL``: ``https://slack.com/api/`` when unset.

    A URL without a path gets Slack's ``/api/`` (``https://slack-gov.com`` works as well as
    ``https://slack-gov.com/api``).
    """
    if not slack_api_url:
        return DEFAULT_WEB_API_URL
    url = slack_api_url.rstrip("/")
    if urlsplit(url).path in ("", "/"):
        url += "/api"
    return url + "/"


def build_slack_bot(
    settings: Settings,
    service: CaptureService,
    *,
    connection: str,
    wall_clock: Callable[[], float] = time.time,
    triage: TriageOptions | None = None,
    pacer: Pacer | None = None,
) -> SlackBot:
    """The Bolt app answering ``/capture-status``, its buttons, shortcut and App Home.

    Args:
        settings: the process settings (read once by the entry point).
        service: the process's one service (every LeadSquared account).
        connection: ``Socket Mode`` or ``HTTP``, for the Home tab.
        wall_clock: Unix time (injectable).
        triage: the caps and progress cadence of triage jobs (default: TriageOptions()).
        pacer: the pace of watch notifications (default: Slack's, on the real clock).

    Raises:
        ConfigurationError: ``SLACK_BOT_TOKEN`` is missing, or Bolt refuses the setup.
    """
    if settings.slack_bot_token is None:
        raise ConfigurationError(
            "capture-status cannot start the Slack app: SLACK_BOT_TOKEN is not set. Copy the "
            "Bot User OAuth Token (xoxb-…) from the app's 'OAuth & Permissions' page."
        )
    logger = slack_library_logger()
    base_url = web_api_url(settings.slack_api_url)
    # No token on this client: the authorize function below supplies it to each request,
    # which keeps Bolt from calling auth.test inside the first request.
    web_client = AsyncWebClient(
        base_url=base_url,
        logger=logger,
        retry_handlers=[
            *async_default_handlers(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=1),
        ],
    )
    identity = BotIdentity(settings.slack_bot_token, web_api_url=base_url, logger=logger)
    secret = settings.slack_signing_secret
    try:
        app = AsyncApp(
            name="capture-status",
            client=web_client,
            # Bolt answers a None result (token refused) with its own "not installed" notice
            authorize=cast("BoltAuthorize", identity.authorize_function()),
            signing_secret=secret.get_secret_value() if secret is not None else "",
            logger=logger,
            # the default, stated: the ack is sent while the listener goes on looking up
            process_before_response=False,
        )
    except BoltError as error:
        raise ConfigurationError(f"The Slack app could not be set up: {error}") from None
    in_flight = InFlight()
    options = AnswerOptions(
        max_ids=settings.slack_max_ids,
        mask_pii=settings.lsq_mask_pii,
        configuration=Configuration.from_settings(
            settings, service.accounts, connection=connection
        ),
    )
    jobs = TriageJobs(service, triage, wall_clock=wall_clock)
    listeners = Listeners(
        service, options, Allowlist.from_settings(settings), in_flight, jobs, wall_clock=wall_clock
    )
    # Bolt's registration methods are only partly typed (re.Pattern without a parameter).
    app.command(COMMAND_PATTERN)(listeners.on_command)  # pyright: ignore[reportUnknownMemberType]
    app.action(REFRESH)(listeners.on_refresh)  # pyright: ignore[reportUnknownMemberType]
    app.action(SHARE)(listeners.on_share)  # pyright: ignore[reportUnknownMemberType]
    app.action(METRICS_REFRESH)(listeners.on_metrics_refresh)  # pyright: ignore[reportUnknownMemberType]
    app.action(WATCH)(listeners.on_watch)  # pyright: ignore[reportUnknownMemberType]
    app.action(STOP_WATCH)(listeners.on_stop_watch)  # pyright: ignore[reportUnknownMemberType]
    app.action(OPEN_PATTERN)(listeners.on_open_link)  # pyright: ignore[reportUnknownMemberType]
    app.message_shortcut(SHORTCUT_CALLBACK_ID)(listeners.on_shortcut)  # pyright: ignore[reportUnknownMemberType]
    app.event("app_home_opened")(listeners.on_home_opened)  # pyright: ignore[reportUnknownMemberType]
    app.error(listeners.on_error)
    # The watcher's notices: the bot token, and no retry handler (the watcher retries later
    # instead of a request sleeping through Slack's Retry-After).
    notify_client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=base_url,
        logger=logger,
        retry_handlers=[],
        timeout=_NOTIFY_TIMEOUT_SECONDS,
    )
    notifier = SlackNotifier(notify_client, service, pacer=pacer)
    return SlackBot(
        app=app,
        identity=identity,
        in_flight=in_flight,
        jobs=jobs,
        web_client=web_client,
        service=service,
        notifier=notifier,
        signing_secret=secret,
    )
