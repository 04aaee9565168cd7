"""The bot token's identity, checked once at start-up instead of on the first request.

Bolt's single-workspace mode calls ``auth.test`` lazily, inside the first request, before
its listener can ``ack()``. Checking the token at start-up instead gives a clear start-up
error for a wrong token, and keeps every request free of I/O before its acknowledgement.
When Slack cannot be reached at start-up, :func:`keep_verifying` asks again in the
background: the app is not ready (``/readyz``) until Slack has accepted the token.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
from pydantic import SecretStr
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from shared import ConfigurationError

__all__ = ["Authorize", "BotIdentity", "keep_verifying", "slack_error_code"]

log = logging.getLogger(__name__)

Authorize = Callable[[str | None, str | None, str | None], Awaitable[AuthorizeResult | None]]


class BotIdentity:
    """Who the bot is in its workspace (from ``auth.test``), with the token to act as it.

    Args:
        token: ``SLACK_BOT_TOKEN``.
        web_api_url: the Slack Web API base URL.
        logger: the Slack libraries' logger (payloads never logged).
    """

    def __init__(self, token: SecretStr, *, web_api_url: str, logger: logging.Logger) -> None:
        self._token = token
        self._web_api_url = web_api_url
        self._logger = logger
        self._result: AuthorizeResult | None = None
        self._lock = asyncio.Lock()

    @property
    def verified(self) -> bool:
        """True once ``auth.test`` accepted the token."""
        return self._result is not None

    async def verify(self) -> AuthorizeResult:
        """Check the token with ``auth.test`` (once; later calls reuse the answer).

        Raises:
            ConfigurationError: Slack refused the token (wrong, revoked, or for another app).
            aiohttp.ClientError, TimeoutError: Slack could not be reached.
        """
        async with self._lock:
            if self._result is None:
                client = AsyncWebClient(
                    token=self._token.get_secret_value(),
                    base_url=self._web_api_url,
                    logger=self._logger,
                )
                try:
                    response = await client.auth_test()  # pyright: ignore[reportUnknownMemberType]
                except SlackApiError as error:
                    code = slack_error_code(error)
                    raise ConfigurationError(
                        f"Slack refused SLACK_BOT_TOKEN ({code}). Copy the Bot User OAuth Token "
                        "(xoxb-…) from the app's 'OAuth & Permissions' page, and reinstall the "
                        "app if its scopes changed."
                    ) from None
                self._result = AuthorizeResult.from_auth_test_response(  # pyright: ignore[reportUnknownMemberType]
                    auth_test_response=response, bot_token=self._token.get_secret_value()
                )
                log.info(
                    "Slack bot token verified (team %s, bot user %s)",
                    self._result.team_id,
                    self._result.bot_user_id,
                )
            return self._result

    def authorize_function(self) -> Authorize:
        """Bolt's ``authorize``: the verified identity for every request, without I/O.

        A plain function rather than a method, because Bolt passes arguments by name.
        """

        async def authorize(
            enterprise_id: str | None, team_id: str | None, user_id: str | None
        ) -> AuthorizeResult | None:
            try:
                base = await self.verify()
            except (ConfigurationError, aiohttp.ClientError, TimeoutError) as error:
                log.error("Slack authorization failed: %s", getattr(error, "message", error))
                return None
            return AuthorizeResult(
                enterprise_id=base.enterprise_id or enterprise_id,
                team_id=base.team_id or team_id,
                team=base.team,
                url=base.url,
                bot_user_id=base.bot_user_id,
                bot_id=base.bot_id,
                bot_token=base.bot_token,
                user_id=user_id,
            )

        return authorize


def slack_error_code(error: SlackApiError) -> str:
    """The ``error`` field of a Web API refusal (``invalid_auth``, ``not_in_channel``, …)."""
    response: object = error.response  # pyright: ignore[reportUnknownMemberType]
    get = getattr(response, "get", None)
    code = get("error") if callable(get) else None
    return code if isinstance(code, str) else "unknown_error"


async def keep_verifying(
    verify: Callable[[], Awaitable[object]], *, pauses: Sequence[float]
) -> bool:
    """Call ``verify`` after each pause until Slack answers; the last pause then repeats.

    For a token that could not be checked at start-up because Slack was unreachable: until
    it is checked the app is not ready, so nothing else would check it.

    Args:
        verify: :meth:`BotIdentity.verify`.
        pauses: seconds to wait before each attempt (at least one).

    Returns:
        True once Slack accepted the token; False when Slack refused it (logged as an error:
        the app stays not ready).
    """
    for pause in itertools.chain(pauses, itertools.repeat(pauses[-1])):
        await asyncio.sleep(pause)
        try:
            await verify()
        except ConfigurationError as error:
            log.error("%s The app stays not ready.", error.message)
            return False
        except (aiohttp.ClientError, TimeoutError) as error:
            log.debug("Slack still cannot be reached (%s)", type(error).__name__)
            continue
        return True
    return False  # pragma: no cover  (the pauses never run out)
