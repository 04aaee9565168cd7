"""Logging for every entry point: text or JSON lines, with secrets and lead data kept out.

Request bodies and results (lead PII) are never logged by capture-status, and URLs are
logged as their host only (:func:`host_for_logs`). Libraries that echo payloads, headers or
URLs are held at WARNING whatever ``LSQ_LOG_LEVEL`` says (:data:`QUIET_LIBRARIES`), by their
level and by a filter on the handler (so a library that resets its own level still cannot
get through). As a last line of defence a filter masks anything that looks like a credential
(``x-api-key`` values, bearer tokens, Slack tokens, ``accessKey``/``secretKey`` query
parameters, ``user:password@`` in URLs) and every secret value the process knows, and makes
each message inert (:func:`~shared.explain.untrusted.inert`), in every record of every logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import urlsplit

from shared.explain.untrusted import inert

__all__ = [
    "QUIET_LIBRARIES",
    "QuietLibrariesFilter",
    "SecretFilter",
    "configure_logging",
    "host_for_logs",
    "scrub",
]

_PATTERNS = (
    re.compile(r"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
    re.compile(r"(?i)((?:access|secret)_?key=)[^&\s'\"]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"()\bx(?:ox[abpr]|app)-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}]+"),
    # user:password@ (or a token alone) in any URL
    # (bounded and possessive: linear on any text, e.g. a long run of "a.")
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]{0,31}+://)[^/\s@'\"]{1,256}+@"),
)
_MASK = "[redacted]"

#: Libraries whose records below WARNING carry payloads, headers or full URLs (checked in
#: the installed versions), held at WARNING whatever the configured level.
QUIET_LIBRARIES: tuple[str, ...] = (
    "sse_starlette",  # DEBUG: every event it streams, i.e. whole MCP tool results
    "mcp",  # DEBUG: SSE and JSON-RPC messages (server.sse, client.streamable_http)
    "httpx",  # INFO: every request's URL, query string included
    "httpcore",  # DEBUG: response headers
    "httpx2",  # the MCP SDK's HTTP client: as httpx
    "httpcore2",  # as httpcore
    "slack_bolt",  # DEBUG: request bodies; INFO: a forged request's body
    "slack_sdk",  # DEBUG: Web API request and response bodies
    "websockets",  # DEBUG: every frame (Socket Mode payloads)
    "aiohttp.access",  # INFO: request lines with query strings
    "uvicorn.access",  # INFO: request lines with query strings
)
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})))


def host_for_logs(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what a log may say about where a URL points.

    Never the user, password, path or query (which may carry keys or ids).
    """
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(an unreadable URL)"
    if not host:
        return "(a URL without a host)"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}" if parts.scheme else netloc


def _is_quiet_library(name: str) -> bool:
    return any(name == quiet or name.startswith(quiet + ".") for quiet in QUIET_LIBRARIES)


class QuietLibrariesFilter(logging.Filter):
    """Drops records below WARNING from :data:`QUIET_LIBRARIES`, whatever their level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not _is_quiet_library(record.name)


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
        cleaned = inert(scrub(message, self._secrets))
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
    handler.addFilter(QuietLibrariesFilter())
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
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
