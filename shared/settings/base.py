"""What every group of settings shares: where they are read from, and small checks."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

__all__ = ["SETTINGS_CONFIG", "check_secret_text", "split_csv"]

#: environment variables (upper-case field names) and a ``.env`` file; empty means unset
SETTINGS_CONFIG = SettingsConfigDict(
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    case_sensitive=False,
    hide_input_in_errors=True,
    env_ignore_empty=True,
)


def split_csv(value: object) -> object:
    """``"a, b,"`` → ``("a", "b")``; anything else unchanged."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def check_secret_text(value: SecretStr | None) -> SecretStr | None:
    """A key or token sent in HTTP headers: anything else would fail on the first request."""
    if value is not None:
        text = value.get_secret_value()
        if not text or not text.isascii() or any(ch.isspace() for ch in text):
            raise ValueError("must be ASCII without spaces (check for a pasting slip)")
    return value
