"""Configuration, read from the environment (and a ``.env`` file) by entry points only.

``shared/`` code never reads the environment: entry points call :func:`load_settings` once
and pass values down. Settings are grouped by concern, one module each: LeadSquared and its
accounts (:mod:`~shared.settings.leadsquared`), Slack, MCP, the HTTP servers and Redis.
Defaults are written once, in :mod:`shared.defaults`.
"""

from __future__ import annotations

from pydantic import SecretStr, ValidationError

from shared.errors import ConfigurationError
from shared.settings.base import SETTINGS_CONFIG
from shared.settings.leadsquared import LeadSquaredSettings
from shared.settings.mcp import McpSettings
from shared.settings.serving import HttpServerSettings, RedisSettings
from shared.settings.slack import SlackSettings
from shared.settings.store import StoreSettings
from shared.store.engine import async_database_url

__all__ = [
    "HttpServerSettings",
    "LeadSquaredSettings",
    "McpSettings",
    "RedisSettings",
    "Settings",
    "SlackSettings",
    "StoreSettings",
    "load_settings",
]


class Settings(
    StoreSettings,
    RedisSettings,
    HttpServerSettings,
    McpSettings,
    SlackSettings,
    LeadSquaredSettings,
):
    """Every setting of capture-status. Environment names are the field names in upper case."""

    model_config = SETTINGS_CONFIG

    def secret_values(self) -> list[str]:
        """Every secret value set (keys, tokens, the Redis URL), for log masking."""
        values: list[SecretStr | None] = [
            self.lsq_api_key,
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.redis_url,
            *self.mcp_auth_tokens,
        ]
        secrets = [value.get_secret_value() for value in values if value is not None]
        password = async_database_url(self.database_url.get_secret_value()).password
        if password:  # the URL as written, and the password alone (a driver may quote it)
            secrets += [self.database_url.get_secret_value(), str(password)]
        return secrets


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and ``.env``, with ``overrides`` on top.

    Raises:
        ConfigurationError: one message naming every missing or invalid variable.
    """
    try:
        return Settings(**overrides)  # pyright: ignore[reportArgumentType]
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{field.upper()}: {message}" if field else message)
        raise ConfigurationError(
            "capture-status cannot start; fix these settings (environment or .env):\n  - "
            + "\n  - ".join(problems)
        ) from None
