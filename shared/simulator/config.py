"""Configuration of the LeadSquared async API simulator."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["SimulatorConfig"]


class SimulatorConfig(BaseModel):
    """How the simulator behaves. Every INF/GAP fact of the upstream API is a knob here.

    Attributes:
        api_key: the ``x-api-key`` every API route requires.
        rate_limit_calls: calls admitted in any ``rate_limit_seconds`` (DOC: 25 in 5 s).
        rate_limit_seconds: length of the moving window.
        processing_seconds: how long a submitted capture stays In-Queue (by ``clock``).
        status_paths: the paths that serve the status API. Both candidates by default (the
            real path is not preserved in the docs); a test can serve only one of them.
        metrics_path: the queue metrics path (DOC).
        capture_path: the capture submission path (DOC).
        send_retry_after: LeadSquared documents no Retry-After; when True, 429s carry one.
        clock: monotonic seconds; injectable so tests can move time without sleeping.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: str = Field(default="demo-key", min_length=1)
    rate_limit_calls: int = Field(default=25, ge=1)
    rate_limit_seconds: float = Field(default=5.0, gt=0)
    processing_seconds: float = Field(default=8.0, ge=0)
    status_paths: tuple[str, ...] = ("/opportunity/status", "/opportunity/capture/status")
    metrics_path: str = "/opportunity/capture/metrics"
    capture_path: str = "/opportunity/capture"
    send_retry_after: bool = False
    clock: Callable[[], float] = time.monotonic

    @field_validator("status_paths")
    @classmethod
    def _status_paths_are_absolute(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        if not all(path.startswith("/") for path in paths):
            raise ValueError("every status path starts with '/'")
        return paths

    @field_validator("metrics_path", "capture_path")
    @classmethod
    def _path_is_absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("paths start with '/'")
        return path

    @property
    def limit_text(self) -> str:
        """The documented wording of the limit, e.g. ``the limit of 25 in 5 second(s)``."""
        return f"the limit of {self.rate_limit_calls} in {self.rate_limit_seconds:g} second(s)"
