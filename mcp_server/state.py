"""What the lifespan hands every request: the core (once it is open) and this deployment's caps.

Light on purpose: this module is on the start-up path, so the core is only named here for
the type checker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ToolError

if TYPE_CHECKING:
    from mcp_server.core import CaptureCore

__all__ = ["CoreSlot", "ServerState"]


class CoreSlot:
    """The process's one :class:`~mcp_server.core.CaptureCore`, opened in the background.

    Requests that arrive before it is open wait for it; if opening failed, they fail with
    the reason.
    """

    def __init__(self) -> None:
        self._settled = asyncio.Event()
        self._core: CaptureCore | None = None
        self._failure = "capture-status is still starting."

    def set(self, core: CaptureCore) -> None:
        """The core is open: every waiting and later request uses it."""
        self._core = core
        self._settled.set()

    def fail(self, message: str) -> None:
        """The core could not be opened; ``message`` says why and what to do (our words)."""
        self._failure = message
        self._settled.set()

    @property
    def ready(self) -> bool:
        """True once the core is open."""
        return self._core is not None

    @property
    def failed(self) -> bool:
        """True when opening the core failed."""
        return self._settled.is_set() and self._core is None

    async def get(self) -> CaptureCore:
        """The core, once open.

        Raises:
            ToolError: opening it failed (the message says why).
        """
        await self._settled.wait()
        if self._core is None:
            raise ToolError(self._failure)
        return self._core


@dataclass(frozen=True, slots=True)
class ServerState:
    """Created once by the server's lifespan, shared by every request.

    Attributes:
        core: the core, opened in the background by the lifespan.
        max_ids: the most ids ``get_capture_statuses`` takes (``MCP_MAX_IDS``).
        wait_max_seconds: the longest ``wait_for_capture`` (``MCP_WAIT_MAX_SECONDS``).
    """

    core: CoreSlot
    max_ids: int
    wait_max_seconds: float
