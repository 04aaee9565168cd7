"""``DATABASE_URL`` and ``WATCH*``: where watches are kept, how long and how many."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from shared import defaults
from shared.errors import ConfigurationError
from shared.settings.base import SETTINGS_CONFIG
from shared.store.engine import async_database_url

__all__ = ["StoreSettings"]


class StoreSettings(BaseSettings):
    """The durable store of watches, and the limits on watches."""

    model_config = SETTINGS_CONFIG

    #: a SQLAlchemy URL: sqlite:///FILE (one machine) or postgresql://… (replicas)
    database_url: SecretStr = SecretStr(defaults.DATABASE_URL)
    #: a watch gives up, saying "still not final", after this many hours
    watch_expiry_hours: float = Field(defaults.WATCH_EXPIRY_HOURS, gt=0, le=168)
    #: running watches one person may hold
    watches_per_user: int = Field(defaults.WATCHES_PER_USER, ge=1, le=100_000)
    #: running watches one workspace may hold
    watches_per_workspace: int = Field(defaults.WATCHES_PER_WORKSPACE, ge=1, le=10_000_000)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr) -> SecretStr:
        try:
            async_database_url(value.get_secret_value())
        except ConfigurationError as error:
            raise ValueError(error.message.removeprefix("DATABASE_URL ")) from None
        return value
