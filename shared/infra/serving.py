"""How the HTTP servers of this project (Slack app, MCP server) hold up against abusive clients.

:func:`hardened_config` builds the uvicorn configuration both servers run with:

- **at most ``max_connections`` open connections.** A connection beyond it closes the
  oldest one still waiting for its request headers (a flood of idle connections keeps
  pushing out its own), or, when every connection is busy with a request, is answered 503
  and closed. uvicorn's ``limit_concurrency`` then bounds the requests in flight too. The
  bound is kept below the process's open-file limit, so ``accept()`` does not run out of
  file descriptors;
- **a header timeout:** a connection must finish a request's headers within
  ``header_timeout_seconds`` of opening (or of its previous answer), else it is closed
  (uvicorn has no header-read timeout of its own: :class:`ConnectionGuard` adds it);
- **bounded headers** (h11's incomplete-event size: 400 beyond it) and uvicorn's
  keep-alive timeout.

:func:`read_body` reads a request body up to a size and within a time (413 and 408
otherwise), for the routes that read bodies themselves. :class:`RateLimitedLog` lets one
line of a repeated warning through per interval (asyncio's ``socket.accept() out of system
resource``, uvicorn's ``Exceeded concurrency limit.``) and counts the ones it held back.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

from shared.settings import Settings

__all__ = [
    "MAX_HEADER_BYTES",
    "BodyTooLarge",
    "BodyTooSlow",
    "ConnectionGuard",
    "HttpLimits",
    "RateLimitedLog",
    "hardened_config",
    "install_log_rate_limits",
    "read_body",
]

log = logging.getLogger(__name__)

#: the request line and headers of one request (h11's default, stated: Slack and MCP send ~2 KB)
MAX_HEADER_BYTES = 16 * 1024
#: file descriptors kept for everything but client connections (upstream, Redis, logs, …)
_RESERVED_FDS = 64
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 22\r\nconnection: close\r\n\r\nToo many connections.\n"
)
#: repeated lines held back to one per interval, by the logger that writes them
_RATE_LIMITED_LINES: dict[str, tuple[str, ...]] = {
    "asyncio": ("socket.accept() out of system resource",),
    "uvicorn.error": ("Exceeded concurrency limit.", "Invalid HTTP request received."),
    __name__: ("Too many connections",),
}
_LOG_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The bounds a server keeps on its clients (defaults: :class:`Settings`).

    Attributes:
        max_connections: open connections at most (``HTTP_MAX_CONNECTIONS``).
        header_timeout_seconds: time a connection has to send a request's headers
            (``HTTP_HEADER_TIMEOUT_SECONDS``); routes reading a body give it as long again.
        keep_alive_seconds: how long an idle keep-alive connection stays open
            (``HTTP_KEEP_ALIVE_SECONDS``).
        max_body_bytes: the largest request body a route reading its own body accepts.
    """

    max_connections: int
    header_timeout_seconds: float
    keep_alive_seconds: int
    max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        """The limits configured in ``settings``."""
        return cls(
            max_connections=settings.http_max_connections,
            header_timeout_seconds=settings.http_header_timeout_seconds,
            keep_alive_seconds=settings.http_keep_alive_seconds,
        )

    @classmethod
    def defaults(cls) -> HttpLimits:
        """The limits of a deployment that sets none of them."""
        fields = Settings.model_fields
        return cls(
            max_connections=fields["http_max_connections"].default,
            header_timeout_seconds=fields["http_header_timeout_seconds"].default,
            keep_alive_seconds=fields["http_keep_alive_seconds"].default,
        )


class ConnectionGuard:
    """Bounds the open connections of one server and closes those slow to send headers.

    Connections waiting for request headers are kept oldest first; the h11 protocol class
    from :meth:`protocol_class` reports to the guard when a connection opens, starts a
    request, finishes an answer and closes.

    Args:
        max_connections: open connections at most.
        header_timeout_seconds: time to send a request's headers.

    Attributes:
        evicted: idle connections closed to make room for a new one.
        timed_out: connections closed for not finishing their headers in time.
        refused: new connections answered 503 because every connection was busy.
    """

    def __init__(self, *, max_connections: int, header_timeout_seconds: float) -> None:
        self.max_connections = max_connections
        self.header_timeout_seconds = header_timeout_seconds
        self.evicted = 0
        self.timed_out = 0
        self.refused = 0
        self._open: set[H11Protocol] = set()
        # insertion order is age: the first is the connection that has waited longest
        self._waiting: dict[H11Protocol, asyncio.TimerHandle] = {}

    @property
    def open_connections(self) -> int:
        """Connections open and not being closed by the guard."""
        return len(self._open)

    @property
    def waiting_for_headers(self) -> int:
        """Open connections that have not finished a request's headers."""
        return len(self._waiting)

    def protocol_class(self) -> type[H11Protocol]:
        """uvicorn's h11 protocol, reporting to this guard (one class per server)."""
        guard = self

        class GuardedH11Protocol(H11Protocol):
            def connection_made(self, transport: asyncio.Transport) -> None:  # pyright: ignore[reportIncompatibleMethodOverride]
                super().connection_made(transport)
                guard.opened(self)

            def connection_lost(self, exc: Exception | None) -> None:
                guard.closed(self)
                super().connection_lost(exc)

            def data_received(self, data: bytes) -> None:
                cycle = self.cycle
                super().data_received(data)
                if self.cycle is not cycle:
                    guard.request_started(self)

            def on_response_complete(self) -> None:
                cycle = self.cycle
                super().on_response_complete()
                if self.cycle is not cycle:
                    guard.request_started(self)  # a pipelined request began at once
                elif not self.transport.is_closing():
                    guard.wait_for_headers(self)

        return GuardedH11Protocol

    def opened(self, connection: H11Protocol) -> None:
        """A connection was accepted: make room for it, or refuse it."""
        self._open.add(connection)
        self.wait_for_headers(connection)
        if len(self._open) <= self.max_connections:
            return
        oldest = next((other for other in self._waiting if other is not connection), None)
        if oldest is not None:
            self.evicted += 1
            self._close(oldest)
            log.warning(
                "Too many connections (%d): closing the one that waited longest for its "
                "request headers (%d closed so far)",
                self.max_connections,
                self.evicted,
            )
            return
        self.refused += 1
        connection.transport.write(_REFUSAL)
        self._close(connection)
        log.warning(
            "Too many connections (%d), all busy: answered 503 to a new one (%d so far)",
            self.max_connections,
            self.refused,
        )

    def wait_for_headers(self, connection: H11Protocol) -> None:
        """``connection`` is waiting for a request's headers: start its timer."""
        self._stop_waiting(connection)
        timer = connection.loop.call_later(self.header_timeout_seconds, self._expire, connection)
        self._waiting[connection] = timer

    def request_started(self, connection: H11Protocol) -> None:
        """``connection`` finished a request's headers."""
        self._stop_waiting(connection)

    def closed(self, connection: H11Protocol) -> None:
        """``connection`` is gone."""
        self._stop_waiting(connection)
        self._open.discard(connection)

    def _expire(self, connection: H11Protocol) -> None:
        if self._waiting.pop(connection, None) is not None:
            self.timed_out += 1
            self._close(connection)

    def _stop_waiting(self, connection: H11Protocol) -> None:
        timer = self._waiting.pop(connection, None)
        if timer is not None:
            timer.cancel()

    def _close(self, connection: H11Protocol) -> None:
        self._stop_waiting(connection)
        self._open.discard(connection)
        connection.transport.close()


def hardened_config(
    app: Any,
    limits: HttpLimits,
    *,
    graceful_shutdown_seconds: int,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> tuple[uvicorn.Config, ConnectionGuard]:
    """The uvicorn configuration of a server of this project, and its connection guard.

    Also installs :func:`install_log_rate_limits`. ``host`` and ``port`` matter only when
    uvicorn binds the socket itself (the servers hand it one from ``bind_socket``).
    """
    install_log_rate_limits()
    guard = ConnectionGuard(
        max_connections=_within_open_file_limit(limits.max_connections),
        header_timeout_seconds=limits.header_timeout_seconds,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guard.protocol_class(),
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        # uvicorn counts the new connection too: with the guard keeping at most
        # max_connections open, this answers 503 only once that many requests are in flight
        limit_concurrency=guard.max_connections + 1,
        timeout_keep_alive=limits.keep_alive_seconds,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_graceful_shutdown=graceful_shutdown_seconds,
    )
    return config, guard


def _within_open_file_limit(wanted: int) -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or wanted + _RESERVED_FDS <= soft:
        return wanted
    allowed = max(1, soft - _RESERVED_FDS)
    log.warning(
        "HTTP_MAX_CONNECTIONS=%d does not fit the open-file limit (%d): serving at most %d "
        "connections; raise the limit (ulimit -n) to allow more",
        wanted,
        soft,
        allowed,
    )
    return allowed


class BodyTooLarge(Exception):
    """The request body is larger than allowed (answer 413)."""


class BodyTooSlow(Exception):
    """The request body did not arrive in time (answer 408)."""


async def read_body(request: Request, *, max_bytes: int, timeout_seconds: float) -> bytes:
    """``request``'s body, refused by its Content-Length at once or as soon as it grows too big.

    Raises:
        BodyTooLarge: the body (declared or received) is larger than ``max_bytes``.
        BodyTooSlow: it did not arrive within ``timeout_seconds``.
        ClientDisconnect: the client went away.
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise BodyTooLarge
    except TimeoutError:
        raise BodyTooSlow from None
    return bytes(body)


class RateLimitedLog(logging.Filter):
    """Lets one record of each listed kind through per interval; counts the others.

    The first record let through after some were held back says how many.

    Args:
        prefixes: a record is of a kind when its message starts with that prefix.
        interval_seconds: at most one record of a kind per interval.
        clock: monotonic seconds (injectable).
    """

    def __init__(
        self,
        prefixes: Iterable[str],
        *,
        interval_seconds: float = _LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._prefixes = tuple(prefixes)
        self._interval = interval_seconds
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def held_back(self, prefix: str) -> int:
        """Records of this kind held back since the last one let through."""
        return self._held.get(prefix, 0)

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        kind = next((prefix for prefix in self._prefixes if message.startswith(prefix)), None)
        if kind is None:
            return True
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this held back)"
            record.args = None
        return True


def install_log_rate_limits() -> None:
    """Rate-limit the repeated lines of the repeated lines listed here (once per logger)."""
    for name, prefixes in _RATE_LIMITED_LINES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RateLimitedLog) for existing in logger.filters):
            logger.addFilter(RateLimitedLog(prefixes))
