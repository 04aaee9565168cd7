"""``SLACK_*``: the Slack app's credentials, allowlists and limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from shared.lsq.hosts import check_base_url
from shared.settings.base import SETTINGS_CONFIG, check_secret_text, split_csv

__all__ = ["SlackSettings"]


class SlackSettings(BaseSettings):
    """How the Slack app reaches Slack and whom it answers."""

    model_config = SETTINGS_CONFIG

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    #: optional allowlists (comma-separated ids); empty means everyone in the workspace
    slack_allowed_team_ids: Annotated[tuple[str, ...], NoDecode] = ()
    slack_allowed_channel_ids: Annotated[tuple[str, ...], NoDecode] = ()
    slack_allowed_user_ids: Annotated[tuple[str, ...], NoDecode] = ()
    slack_max_ids: int = Field(10, ge=1, le=10)

    @field_validator("slack_api_url", mode="before")
    @classmethod
    def _check_slack_url(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip().rstrip("/"):
                return None
            return check_base_url(value, carries="the Slack bot token")
        return value

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token")
    @classmethod
    def _check_slack_secrets(cls, value: SecretStr | None) -> SecretStr | None:
        return check_secret_text(value)

    @field_validator(
        "slack_allowed_team_ids",
        "slack_allowed_channel_ids",
        "slack_allowed_user_ids",
        mode="before",
    )
    @classmethod
    def _split_slack_ids(cls, value: object) -> object:
        return split_csv(value)
