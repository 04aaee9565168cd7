"""Keeping Slack payloads out of the logs.

Slack payloads carry what people typed and what the cards show (lead data, even masked,
does not belong in logs). Bolt logs request bodies when a signature fails (INFO), for
unhandled requests (WARNING) and at DEBUG; slack-sdk logs API bodies at DEBUG. The Slack
libraries therefore log through :func:`slack_library_logger` (WARNING and up, payloads cut
out), and :func:`install_payload_filter` guards every root handler as a second line.
"""

from __future__ import annotations

import logging
import re

from bot.mrkdwn import cut

__all__ = [
    "SLACK_LOGGER_NAME",
    "SlackPayloadFilter",
    "install_payload_filter",
    "slack_library_logger",
]

#: the logger Bolt, its middleware and the Socket Mode client log through
SLACK_LOGGER_NAME = "bot.slack_libraries"
_SLACK_PREFIXES = ("slack_bolt", "slack_sdk", SLACK_LOGGER_NAME, "capture-status:")
_PAYLOAD = re.compile(r"[\[{(].*[\]})]")
_MESSAGE_LIMIT = 300


class SlackPayloadFilter(logging.Filter):
    """Drops Slack library records below WARNING and cuts payloads out of the others.

    Args:
        only_slack_loggers: apply only to records of the Slack libraries (for a handler
            shared by every logger); otherwise apply to every record (for their own logger).
    """

    def __init__(self, *, only_slack_loggers: bool) -> None:
        super().__init__()
        self._only_slack = only_slack_loggers

    def filter(self, record: logging.LogRecord) -> bool:
        if self._only_slack and not record.name.startswith(_SLACK_PREFIXES):
            return True
        if record.levelno < logging.WARNING:
            return False
        lines = record.getMessage().strip().splitlines()
        first = lines[0] if lines else ""
        record.msg = cut(_PAYLOAD.sub("(payload omitted)", first), _MESSAGE_LIMIT)
        record.args = None
        # a traceback can quote payload values held in locals or exception messages
        if record.exc_info and record.exc_info[0] is not None:
            record.msg += f" ({record.exc_info[0].__name__})"
        record.exc_info = None
        record.exc_text = None
        return True


def slack_library_logger() -> logging.Logger:
    """The base logger handed to Bolt and slack-sdk: WARNING and up, payloads cut out.

    Bolt copies its level and filters to every logger it creates from it.
    """
    logger = logging.getLogger(SLACK_LOGGER_NAME)
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, SlackPayloadFilter) for f in logger.filters):
        logger.addFilter(SlackPayloadFilter(only_slack_loggers=False))
    return logger


def install_payload_filter() -> None:
    """Guard every root handler (call after ``configure_logging``), and quiet slack_sdk."""
    for name in ("slack_bolt", "slack_sdk"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, SlackPayloadFilter) for f in handler.filters):
            handler.addFilter(SlackPayloadFilter(only_slack_loggers=True))
