"""``MCP_*``: who may call the MCP server over HTTP, and its limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from shared.settings.base import SETTINGS_CONFIG, split_csv

__all__ = ["McpSettings"]


class McpSettings(BaseSettings):
    """Tokens, allowed Host headers and limits of the MCP server."""

    model_config = SETTINGS_CONFIG

    mcp_auth_tokens: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    mcp_max_ids: int = Field(20, ge=1, le=50)
    mcp_wait_max_seconds: float = Field(600.0, gt=0, le=3600)
    mcp_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = (
        "127.0.0.1:*",
        "localhost:*",
        "[::1]:*",
    )

    @field_validator("mcp_auth_tokens", "mcp_allowed_hosts", mode="before")
    @classmethod
    def _split_mcp_lists(cls, value: object) -> object:
        return split_csv(value)
