"""Why the Slack app could not start, in words for whoever runs it."""

from __future__ import annotations

__all__ = ["StartupError"]


class StartupError(Exception):
    """The app could not start for a reason other than its settings (network, a taken port).

    Attributes:
        message: what went wrong and what to check, for the person running the app.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
