"""Turning failed lookups into ``ToolError``s the model can read and act on.

Only ``ToolError`` text reaches the model (any other exception becomes a generic message),
so every anticipated failure is raised through :func:`tool_error`. The text is the core's
explanation of the error: our own wording (the headline, what happened, next steps), never
an upstream body and never a traceback.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError

from mcp_server.rendering import clean
from mcp_server.results import TEXT_LIMIT
from shared import CaptureStatusError, Explanation, explain_error

__all__ = ["error_text", "tool_error", "tool_error_for"]

_MAX_STEPS = 4


def error_text(explanation: Explanation) -> str:
    """One paragraph: what went wrong, then what to do next."""
    parts = [clean(explanation.headline, TEXT_LIMIT).rstrip(".") + "."]
    happened = clean(explanation.what_happened)
    if happened:
        parts.append(happened)
    steps = [clean(step) for step in explanation.next_steps[:_MAX_STEPS]]
    if steps:
        parts.append("Next: " + " ".join(steps))
    return " ".join(parts)


def tool_error(explanation: Explanation, *, account: str | None = None) -> ToolError:
    """A ``ToolError`` carrying :func:`error_text` of ``explanation``.

    With several accounts, ``account`` names the one that answered: "not found" on one
    account is often the answer of another.
    """
    prefix = f"Account {account}: " if account is not None else ""
    return ToolError(prefix + error_text(explanation))


def tool_error_for(
    error: CaptureStatusError, *, request_id: str | None = None, account: str | None = None
) -> ToolError:
    """A ``ToolError`` explaining ``error`` (a lookup about ``request_id``, on ``account``)."""
    return tool_error(explain_error(error, request_id=request_id), account=account)
