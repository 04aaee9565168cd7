"""Configuration, read from the environment (and a ``.env`` file) by entry points only.

``shared/`` code never reads the environment: entry points call :func:`load_settings` once
and pass values down.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigurationError
from shared.infra.sockets import is_loopback

__all__ = ["REGION_HOSTS", "Settings", "load_settings"]

#: documented async hosts (docs/leadsquared.md, "Hosts"); other regions need LSQ_ASYNC_BASE_URL
REGION_HOSTS: dict[str, str] = {
    "sg": "https://asyncapi.leadsquared.com",
    "in21": "https://asyncapi-in21.leadsquared.com",
    "us11": "https://asyncapi-us11.leadsquared.com",
}
_REGION_ALIASES = {
    "singapore": "sg",
    "sgp": "sg",
    "default": "sg",
    "india": "in21",
    "in": "in21",
    "usa": "us11",
    "us": "us11",
}
#: what each URL setting that may use plain http:// (to loopback only) would expose otherwise
_SECRET_BEHIND_URL = {
    "lsq_async_base_url": "the LeadSquared API key",
    "slack_api_url": "the Slack bot token",
}


def _csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Every setting of capture-status. Environment names are the field names in upper case."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
        env_ignore_empty=True,
    )

    # LeadSquared
    lsq_api_key: SecretStr | None = None
    lsq_async_base_url: str | None = None
    lsq_region: str = "sg"
    lsq_status_path: str = "/opportunity/status"
    lsq_status_fallback_path: str = "/opportunity/capture/status"
    lsq_metrics_path: str = "/opportunity/capture/metrics"
    lsq_app_base_url: str | None = None
    #: the async host is the simulator (set by ``make run``): label every answer as a demo
    lsq_demo: bool = False

    # Reliability: the account's documented limit, and how much of it we leave to others
    lsq_rate_limit_calls: int = Field(25, ge=1, le=10_000)
    lsq_rate_limit_seconds: int = Field(5, ge=1, le=3600)
    lsq_rate_headroom_calls: int = Field(2, ge=0)
    lsq_rate_window_guard_seconds: float = Field(0.25, ge=0, le=5)
    lsq_connect_timeout_seconds: float = Field(3.0, gt=0, le=60)
    lsq_read_timeout_seconds: float = Field(10.0, gt=0, le=120)
    lsq_lookup_deadline_seconds: float = Field(20.0, gt=0, le=600)
    lsq_retry_attempts: int = Field(3, ge=1, le=10)
    lsq_max_concurrency: int = Field(8, ge=1, le=100)
    lsq_cache_final_ttl_seconds: float = Field(86_400.0, ge=0)
    lsq_cache_error_status_ttl_seconds: float = Field(60.0, ge=0)
    lsq_cache_pending_ttl_seconds: float = Field(5.0, ge=0)
    lsq_cache_max_entries: int = Field(10_000, ge=1)
    lsq_throttle_cooldown_seconds: float | None = Field(None, gt=0)
    lsq_breaker_failures: int = Field(5, ge=1, le=100)
    lsq_breaker_open_seconds: float = Field(30.0, gt=0, le=3600)
    #: replicas sharing the account: while Redis is unreachable each takes 1/N of the budget
    lsq_fallback_replicas: int = Field(4, ge=1, le=1000)

    # Presentation
    lsq_mask_pii: bool = True
    lsq_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    lsq_log_format: Literal["text", "json"] = "text"

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    #: optional allowlists (comma-separated ids); empty means everyone in the workspace
    slack_allowed_team_ids: Annotated[tuple[str, ...], NoDecode] = ()
    slack_allowed_channel_ids: Annotated[tuple[str, ...], NoDecode] = ()
    slack_allowed_user_ids: Annotated[tuple[str, ...], NoDecode] = ()
    slack_max_ids: int = Field(10, ge=1, le=10)

    # MCP
    mcp_auth_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    mcp_max_ids: int = Field(20, ge=1, le=50)
    mcp_wait_max_seconds: float = Field(600.0, gt=0, le=3600)
    mcp_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = (
        "127.0.0.1:*",
        "localhost:*",
        "[::1]:*",
    )

    # HTTP servers (Slack app, MCP server): bounds on clients, whatever stands in front
    #: open connections at most; more close the longest-idle one (or get 503 if all are busy)
    http_max_connections: int = Field(500, ge=1, le=100_000)
    #: a connection must finish a request's headers within this time (slowloris)
    http_header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    #: an idle keep-alive connection is closed after this; above a load balancer's idle timeout
    http_keep_alive_seconds: int = Field(5, ge=1, le=3600)

    # Shared state
    redis_url: SecretStr | None = None

    @field_validator("lsq_region", mode="before")
    @classmethod
    def _normalise_region(cls, value: object) -> object:
        if isinstance(value, str):
            key = value.strip().lower()
            return _REGION_ALIASES.get(key, key)
        return value

    @field_validator("lsq_async_base_url", "lsq_app_base_url", "slack_api_url", mode="before")
    @classmethod
    def _check_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            if not value:
                return None
            if not value.startswith(("http://", "https://")):
                raise ValueError("must start with https:// (or http:// for a local simulator)")
            try:
                parsed = urlsplit(value)
                parsed.port  # noqa: B018 (reading it validates the port)
            except ValueError:
                raise ValueError("is not a valid URL") from None
            if not parsed.hostname:
                raise ValueError("has no host name")
        return value

    @field_validator("lsq_async_base_url", "slack_api_url")
    @classmethod
    def _refuse_clear_text_secrets(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Every call to these hosts carries a secret in a header: over plain http:// anyone on
        # the way could read it. Loopback never leaves the machine (simulator, local proxy).
        if value is not None and value.lower().startswith("http://"):
            host = urlsplit(value).hostname or ""
            if not is_loopback(host):
                secret = _SECRET_BEHIND_URL[info.field_name or ""]
                raise ValueError(
                    f"uses http:// for {host}, so {secret} would travel unencrypted; use "
                    "https:// (plain http:// is accepted only for this machine: localhost, "
                    "127.0.0.1 or ::1)"
                )
        return value

    @field_validator("lsq_api_key", "slack_bot_token", "slack_signing_secret", "slack_app_token")
    @classmethod
    def _check_secret_text(cls, value: SecretStr | None) -> SecretStr | None:
        # Sent in HTTP headers: anything else would fail on the first request, not here.
        if value is not None:
            text = value.get_secret_value()
            if not text or not text.isascii() or any(ch.isspace() for ch in text):
                raise ValueError("must be ASCII without spaces (check for a pasting slip)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("lsq_lookup_deadline_seconds")
    @classmethod
    def _check_deadline(cls, value: float, info: ValidationInfo) -> float:
        read = info.data.get("lsq_read_timeout_seconds")
        if isinstance(read, float) and read >= value:
            raise ValueError(
                "must be longer than LSQ_READ_TIMEOUT_SECONDS, or one slow answer would use up "
                "the whole lookup"
            )
        return value

    @field_validator("lsq_async_base_url")
    @classmethod
    def _check_key_for_base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("lsq_api_key") is None:
            raise ValueError("is set but LSQ_API_KEY is not: set both, or neither for the demo")
        return value

    @field_validator("lsq_status_path", "lsq_status_fallback_path", "lsq_metrics_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be a path starting with '/'")
        return value

    @field_validator(
        "mcp_auth_tokens",
        "mcp_allowed_hosts",
        "slack_allowed_team_ids",
        "slack_allowed_channel_ids",
        "slack_allowed_user_ids",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        return _csv(value)

    @field_validator("lsq_region")
    @classmethod
    def _check_region(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("lsq_async_base_url") is None and value not in REGION_HOSTS:
            raise ValueError(
                f"{value!r} has no documented async host; use one of "
                f"{', '.join(REGION_HOSTS)} or set LSQ_ASYNC_BASE_URL (other regions are "
                "probably https://asyncapi-<cluster>.leadsquared.com)"
            )
        return value

    @field_validator("lsq_rate_headroom_calls")
    @classmethod
    def _check_headroom(cls, value: int, info: ValidationInfo) -> int:
        limit = info.data.get("lsq_rate_limit_calls")
        if isinstance(limit, int) and value >= limit:
            raise ValueError("must be smaller than LSQ_RATE_LIMIT_CALLS, or no call could be made")
        return value

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
        return [value.get_secret_value() for value in values if value is not None]

    @property
    def demo_mode(self) -> bool:
        """No LeadSquared credentials (or LSQ_DEMO): the built-in simulator stands in."""
        return self.lsq_api_key is None or self.lsq_demo

    @property
    def async_base_url(self) -> str:
        """The async host to call: LSQ_ASYNC_BASE_URL, else the documented host of LSQ_REGION."""
        return self.lsq_async_base_url or REGION_HOSTS[self.lsq_region]

    @property
    def rate_budget_calls(self) -> int:
        """Calls per window this deployment allows itself (the limit minus the headroom)."""
        return self.lsq_rate_limit_calls - self.lsq_rate_headroom_calls


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
