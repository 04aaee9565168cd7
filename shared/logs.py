"""Logging for every entry point: text or JSON lines, with secrets kept out.

Request bodies (lead PII) are never logged by capture-status. As a second line of defence a
filter masks anything that looks like a credential (``x-api-key`` values, bearer tokens, Slack
tokens, ``accessKey``/``secretKey`` query parameters) and every secret value the process
knows, in every record of every logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["SecretFilter", "configure_logging", "scrub"]

_PATTERNS = (
    re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(?i)((?:access|secret)_?key=)[^&\s'\"]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"()\bx(?:ox[abpr]|app)-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}]+"),
)
_MASK = "[redacted]"
# Libraries that log full URLs or bodies at INFO/DEBUG.
_NOISY = ("httpx", "httpcore", "slack_bolt", "slack_sdk", "aiohttp.access", "uvicorn.access")
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secret values and credential-looking tokens masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return text


class SecretFilter(logging.Filter):
    """Masks secrets in the final message of every record it sees."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, self._secrets)
        if record.exc_info:
            # Tracebacks can quote locals and URLs: keep only the exception type.
            exc_type = record.exc_info[0]
            cleaned += f" ({exc_type.__name__ if exc_type else 'error'})"
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields.

    The message was already scrubbed by :class:`SecretFilter`; ``extra`` fields are scrubbed
    here, since the filter cannot see inside them.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= 4)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                if isinstance(value, int | float | bool):
                    entry[key] = value
                else:
                    entry[key] = scrub(str(value), self._secrets)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send logs to stderr (stdout may carry a protocol) with secrets masked.

    Args:
        level: the root level.
        fmt: ``"text"`` or ``"json"``.
        secrets: secret values to mask wherever they appear.
        stream: where to write (stderr by default).
    """
    secrets = tuple(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(SecretFilter(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter(secrets))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
