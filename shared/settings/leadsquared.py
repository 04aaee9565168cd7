"""LeadSquared settings: the v1 account, the accounts file, families, reliability, output."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode

from shared import defaults
from shared.families import DEFAULT_FAMILIES, FAMILY_NAMES
from shared.lsq.hosts import REGION_HOSTS, check_base_url, normalise_region
from shared.settings.base import SETTINGS_CONFIG, check_secret_text, split_csv

__all__ = ["LeadSquaredSettings"]


class LeadSquaredSettings(BaseSettings):
    """``LSQ_*``: where LeadSquared is, how hard to call it, and how answers are shown."""

    model_config = SETTINGS_CONFIG

    # The account of v1 (the account ``default`` when no accounts file is given)
    lsq_api_key: SecretStr | None = None
    lsq_async_base_url: str | None = None
    lsq_region: str = "sg"
    lsq_app_base_url: str | None = None
    #: several accounts and their routes (TOML; see docs/accounts.md)
    lsq_accounts_file: str | None = None
    #: enabled API families, in the order an id of unknown family is tried
    lsq_families: Annotated[tuple[str, ...], NoDecode] = DEFAULT_FAMILIES
    lsq_status_path: str = defaults.STATUS_PATH
    lsq_status_fallback_path: str = defaults.STATUS_FALLBACK_PATH
    lsq_metrics_path: str = defaults.METRICS_PATH
    #: the async host is the simulator (set by ``make run``): label every answer as a demo
    lsq_demo: bool = False

    # Reliability: the account's documented limit, and how much of it we leave to others
    lsq_rate_limit_calls: int = Field(defaults.RATE_LIMIT_CALLS, ge=1, le=10_000)
    lsq_rate_limit_seconds: int = Field(defaults.RATE_LIMIT_SECONDS, ge=1, le=3600)
    lsq_rate_headroom_calls: int = Field(defaults.RATE_HEADROOM_CALLS, ge=0)
    lsq_rate_window_guard_seconds: float = Field(defaults.RATE_WINDOW_GUARD_SECONDS, ge=0, le=5)
    lsq_connect_timeout_seconds: float = Field(defaults.CONNECT_TIMEOUT_SECONDS, gt=0, le=60)
    lsq_read_timeout_seconds: float = Field(defaults.READ_TIMEOUT_SECONDS, gt=0, le=120)
    lsq_lookup_deadline_seconds: float = Field(defaults.LOOKUP_DEADLINE_SECONDS, gt=0, le=600)
    lsq_retry_attempts: int = Field(defaults.RETRY_ATTEMPTS, ge=1, le=10)
    lsq_max_concurrency: int = Field(defaults.MAX_CONCURRENCY, ge=1, le=100)
    lsq_max_ids_per_call: int = Field(defaults.MAX_IDS_PER_CALL, ge=1, le=1000)
    lsq_cache_final_ttl_seconds: float = Field(defaults.CACHE_FINAL_TTL_SECONDS, ge=0)
    lsq_cache_error_status_ttl_seconds: float = Field(defaults.CACHE_ERROR_STATUS_TTL_SECONDS, ge=0)
    lsq_cache_pending_ttl_seconds: float = Field(defaults.CACHE_PENDING_TTL_SECONDS, ge=0)
    lsq_cache_max_entries: int = Field(defaults.CACHE_MAX_ENTRIES, ge=1)
    lsq_throttle_cooldown_seconds: float | None = Field(None, gt=0)
    lsq_breaker_failures: int = Field(defaults.BREAKER_FAILURES, ge=1, le=100)
    lsq_breaker_open_seconds: float = Field(defaults.BREAKER_OPEN_SECONDS, gt=0, le=3600)
    #: replicas sharing the account: while Redis is unreachable each takes 1/N of the budget
    lsq_fallback_replicas: int = Field(defaults.FALLBACK_REPLICAS, ge=1, le=1000)

    # Presentation
    lsq_mask_pii: bool = True
    lsq_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    lsq_log_format: Literal["text", "json"] = "text"

    @field_validator("lsq_region", mode="before")
    @classmethod
    def _normalise_region(cls, value: object) -> object:
        return normalise_region(value) if isinstance(value, str) else value

    @field_validator("lsq_async_base_url", "lsq_app_base_url", mode="before")
    @classmethod
    def _check_lsq_urls(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            if not value.strip().rstrip("/"):
                return None
            carries = "the LeadSquared API key" if info.field_name == "lsq_async_base_url" else None
            return check_base_url(value, carries=carries)
        return value

    @field_validator("lsq_api_key")
    @classmethod
    def _check_lsq_key(cls, value: SecretStr | None) -> SecretStr | None:
        return check_secret_text(value)

    @field_validator("lsq_families", mode="before")
    @classmethod
    def _split_families(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("lsq_families")
    @classmethod
    def _check_families(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        families = tuple(dict.fromkeys(name.strip().lower() for name in value))
        unknown = [name for name in families if name not in FAMILY_NAMES]
        if unknown:
            raise ValueError(
                f"unknown {', '.join(map(repr, unknown))}; the families are "
                f"{', '.join(FAMILY_NAMES)}"
            )
        if not families:
            raise ValueError("name at least one family")
        return families

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

    @property
    def demo_mode(self) -> bool:
        """No LeadSquared credentials (or LSQ_DEMO): the built-in simulator stands in."""
        if self.lsq_demo:
            return True
        return self.lsq_api_key is None and self.lsq_accounts_file is None

    @property
    def async_base_url(self) -> str:
        """The async host to call: LSQ_ASYNC_BASE_URL, else the documented host of LSQ_REGION."""
        return self.lsq_async_base_url or REGION_HOSTS[self.lsq_region]

    @property
    def rate_budget_calls(self) -> int:
        """Calls per window this deployment allows itself (the limit minus the headroom)."""
        return defaults.budget_calls(self.lsq_rate_limit_calls, self.lsq_rate_headroom_calls)
