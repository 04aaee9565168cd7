"""``HTTP_*`` and ``REDIS_URL``: the HTTP servers' bounds, and state shared by replicas."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from shared.settings.base import SETTINGS_CONFIG

__all__ = ["HttpServerSettings", "RedisSettings"]


class HttpServerSettings(BaseSettings):
    """Bounds on clients of the Slack app and MCP server, whatever stands in front."""

    model_config = SETTINGS_CONFIG

    #: open connections at most; more close the longest-idle one (or get 503 if all are busy)
    http_max_connections: int = Field(500, ge=1, le=100_000)
    #: a connection must finish a request's headers within this time (slowloris)
    http_header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    #: an idle keep-alive connection is closed after this; above a load balancer's idle timeout
    http_keep_alive_seconds: int = Field(5, ge=1, le=3600)


class RedisSettings(BaseSettings):
    """When set, budget, cooldown and cache are shared through Redis by every replica."""

    model_config = SETTINGS_CONFIG

    redis_url: SecretStr | None = None

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value
