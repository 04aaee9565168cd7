"""The HTTP edge: one GET to the LeadSquared async host, translated into data or a typed error.

This is the only module of ``shared/`` that imports ``httpx``. Every ``httpx`` exception and
every unreadable answer is turned into a :mod:`shared.errors` exception here.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.types import ASGIApp

from shared import defaults
from shared.errors import (
    AuthenticationError,
    BadRequestError,
    EndpointNotFoundError,
    MalformedResponseError,
    RateLimitedError,
    RequestNotFoundError,
    ResponseTooLargeError,
    ServerError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
)
from shared.explain.mx_exceptions import find_exception
from shared.lsq.bounds import LARGE_ANSWER

__all__ = [
    "GATEWAY_NOT_FOUND_TEXT",
    "MAX_RESPONSE_BYTES",
    "UpstreamHttp",
    "UpstreamTimeouts",
    "in_process_transport",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

#: how the API gateway words a 404 for a path it does not serve
GATEWAY_NOT_FOUND_TEXT = "api could not be found"
_RATE_LIMIT_EXCEPTION = "MXAPIRateLimitExceededException"
_BODY_EXCERPT = 200
_MAX_RETRY_AFTER = 600.0
#: the most of one answer that is read: a status envelope is a few KB (its RequestBody and
#: Message are the submitted capture and its result); anything past this is not LeadSquared
_DEFAULT_LIMIT_TEXT = f"{defaults.RATE_LIMIT_CALLS} calls per {defaults.RATE_LIMIT_SECONDS} s"
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    """Per-attempt timeouts, in seconds."""

    connect: float = defaults.CONNECT_TIMEOUT_SECONDS
    read: float = defaults.READ_TIMEOUT_SECONDS
    write: float = defaults.WRITE_TIMEOUT_SECONDS
    pool: float = 2.0


class UpstreamHttp:
    """A thin, safe wrapper over one ``httpx.AsyncClient`` bound to the async host.

    Args:
        base_url: the async host, e.g. ``https://asyncapi.leadsquared.com``.
        api_key: the async ``x-api-key``; never logged.
        timeouts: per-attempt timeouts.
        transport: an httpx transport to use instead of the network (tests, in-process
            simulator).
        max_connections: connection pool size.
        wall_clock: returns the current Unix time; used to read HTTP-date Retry-After values.
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeouts: UpstreamTimeouts | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
        limit_text: str = _DEFAULT_LIMIT_TEXT,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._limit_text = limit_text
        t = timeouts or UpstreamTimeouts()
        self._wall_clock = wall_clock
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "x-api-key": api_key.get_secret_value(),
                "accept": "application/json",
                # the size cap counts what is read; uncompressed answers keep it honest
                "accept-encoding": "identity",
            },
            timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        request_id: str | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> object:
        """GET ``path`` and return its decoded JSON body.

        Args:
            path: the path on the async host.
            params: the query.
            request_id: for error messages.
            before_send: awaited once the connection is ready, right before the request
                goes on the wire (after any wait for a pooled connection and any connect);
                whatever it raises ends the call unsent. Transports without a wire (the
                in-process simulator) never call it.

        Raises:
            BadRequestError: HTTP 400.
            AuthenticationError: HTTP 401 or 403.
            EndpointNotFoundError: HTTP 404 whose body is the gateway's "API could not be found".
            RequestNotFoundError: any other HTTP 404.
            RateLimitedError: HTTP 429, or an MX rate-limit exception in a 200 body.
            ServerError: HTTP 5xx.
            UpstreamTimeoutError: no answer within the timeouts.
            UpstreamConnectionError: connection refused, reset or cut.
            MalformedResponseError: an empty or non-JSON body, or any other status code.
            ResponseTooLargeError: the answer is longer than :data:`MAX_RESPONSE_BYTES`
                (announced or read); no more of it is read.
        """
        extensions: dict[str, Any] = {}
        if before_send is not None:
            extensions["trace"] = _on_send(before_send)
        try:
            async with self._client.stream(
                "GET", path, params=dict(params or {}), extensions=extensions
            ) as response:
                text = await _read_capped(response, request_id)
        except httpx.TimeoutException:
            raise UpstreamTimeoutError(
                "LeadSquared did not answer in time. It may be slow or unreachable; try again "
                "in a minute.",
                request_id=request_id,
            ) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError):
            raise UpstreamConnectionError(
                "Could not reach LeadSquared (the connection failed or was cut). Check network "
                "access to the async host and try again in a minute.",
                request_id=request_id,
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamConnectionError(
                f"The call to LeadSquared failed ({type(exc).__name__}). Try again in a minute; "
                "if it persists, check LSQ_ASYNC_BASE_URL.",
                request_id=request_id,
            ) from None
        if len(text) > LARGE_ANSWER:
            # decoding megabytes of JSON takes tens of milliseconds: not on the event loop
            return await asyncio.to_thread(self._read, response, text, request_id)
        return self._read(response, text, request_id)

    def _read(self, response: httpx.Response, text: str, request_id: str | None) -> object:
        status = response.status_code
        if status == 200:
            payload = _decode_json(text, request_id)
            if _is_rate_limit_body(payload):
                raise RateLimitedError(
                    "LeadSquared throttled this account (rate-limit exception in the answer). "
                    "capture-status backs off; try again in a few seconds.",
                    request_id=request_id,
                    http_status=status,
                    retry_after=None,
                )
            return payload
        if status == 400:
            raise BadRequestError(
                "LeadSquared rejected the request as not per spec (HTTP 400). Check that the "
                "RequestId is complete; if it is, report this with the id.",
                request_id=request_id,
                http_status=status,
            )
        if status in (401, 403):
            raise AuthenticationError(
                "LeadSquared refused the API key (HTTP 401): the key is wrong, its user is "
                "deactivated, or the account lives in another region. An admin should check "
                "LSQ_API_KEY and LSQ_REGION / LSQ_ASYNC_BASE_URL.",
                request_id=request_id,
                http_status=status,
            )
        if status == 404:
            if GATEWAY_NOT_FOUND_TEXT in text.lower():
                raise EndpointNotFoundError(
                    "The LeadSquared gateway does not serve this path (HTTP 404 'API could not "
                    "be found'). An admin should check LSQ_ASYNC_BASE_URL / LSQ_REGION and "
                    "LSQ_STATUS_PATH.",
                    request_id=request_id,
                    http_status=status,
                )
            raise RequestNotFoundError(
                "LeadSquared has no request with this id here. It may be a typo, belong to "
                "another region, or have expired.",
                request_id=request_id,
                http_status=status,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers, now=self._wall_clock())
            when = f"in about {math.ceil(retry_after)} s" if retry_after else "in a few seconds"
            raise RateLimitedError(
                f"LeadSquared throttled this account (HTTP 429: its {self._limit_text} are "
                f"shared by every integration). Try again {when}.",
                request_id=request_id,
                http_status=status,
                retry_after=retry_after,
            )
        if 500 <= status <= 599:
            raise ServerError(
                f"LeadSquared failed to answer (HTTP {status}). It is usually temporary: try "
                "again in a minute.",
                request_id=request_id,
                http_status=status,
                retry_after=parse_retry_after(response.headers, now=self._wall_clock()),
            )
        raise MalformedResponseError(
            f"LeadSquared answered with an unexpected HTTP {status}. Try again in a minute; if "
            "it persists, check LSQ_ASYNC_BASE_URL.",
            request_id=request_id,
            http_status=status,
        )


def in_process_transport(app: ASGIApp) -> httpx.AsyncBaseTransport:
    """A transport that serves requests from an ASGI app (the simulator) without a socket."""
    return httpx.ASGITransport(app=app)


def _on_send(
    before_send: Callable[[], Awaitable[None]],
) -> Callable[[str, Mapping[str, Any]], Awaitable[None]]:
    """An httpcore trace hook that awaits ``before_send`` as the request headers go out."""

    async def trace(event: str, _info: Mapping[str, Any]) -> None:
        # "http11.send_request_headers.started" (or http2): connected, nothing sent yet
        if event.endswith(".send_request_headers.started"):
            await before_send()

    return trace


async def _read_capped(response: httpx.Response, request_id: str | None) -> str:
    """The body as text, read only up to :data:`MAX_RESPONSE_BYTES` whatever the headers say.

    The cap counts what the body decodes to: a compressed answer (sent although the request
    asks for none) is inflated piece by piece, never past the cap, so a small "zip bomb"
    cannot take more memory than a plain answer.
    """
    declared = response.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise _too_large(request_id, response.status_code)
    inflater = _inflater(response, request_id)
    chunks: list[bytes] = []
    size = 0
    try:
        # identity: the bytes as sent; compressed: the raw bytes, inflated here within the cap
        stream = response.aiter_bytes() if inflater is None else response.aiter_raw()
        async for raw in stream:
            room = MAX_RESPONSE_BYTES - size + 1
            chunk = raw if inflater is None else inflater.decompress(raw, room)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES or (inflater is not None and inflater.unconsumed_tail):
                raise _too_large(request_id, response.status_code)
            chunks.append(chunk)
        if inflater is not None:
            tail = inflater.flush(MAX_RESPONSE_BYTES - size + 1)
            if size + len(tail) > MAX_RESPONSE_BYTES:
                raise _too_large(request_id, response.status_code)
            chunks.append(tail)
    except zlib.error:
        raise MalformedResponseError(
            "LeadSquared's compressed answer could not be decompressed (it is cut or "
            "corrupt). Try again in a minute; if it persists, check LSQ_ASYNC_BASE_URL.",
            request_id=request_id,
            http_status=response.status_code,
        ) from None
    return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")


def _inflater(response: httpx.Response, request_id: str | None) -> Any:
    """A bounded decompressor for the answer's Content-Encoding (``None`` for identity)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # gzip or zlib, by its header
    raise MalformedResponseError(
        f"LeadSquared answered compressed as {encoding[:40]!r}, which capture-status does not "
        "read (it asks for no compression). Check that LSQ_ASYNC_BASE_URL points at "
        "LeadSquared's async host, not a proxy that re-encodes answers.",
        request_id=request_id,
        http_status=response.status_code,
    )


def _too_large(request_id: str | None, status: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"The answer was larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MB (a status answer "
        "is a few KB), so capture-status stopped reading it. LSQ_ASYNC_BASE_URL probably does "
        "not point at LeadSquared's async host (or a proxy on the way answers instead): an "
        "admin should check it, and report this if it does.",
        request_id=request_id,
        http_status=status,
    )


def _decode_json(text: str, request_id: str | None) -> object:
    if not text.strip():
        raise MalformedResponseError(
            "LeadSquared answered with an empty body. Try again in a minute; if it persists, "
            "check LSQ_ASYNC_BASE_URL and LSQ_STATUS_PATH.",
            request_id=request_id,
            http_status=200,
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedResponseError(
            f"LeadSquared answered with text that is not JSON ({len(text)} characters). Try "
            "again in a minute; if it persists, check LSQ_ASYNC_BASE_URL and LSQ_STATUS_PATH.",
            request_id=request_id,
            http_status=200,
        ) from None


def _is_rate_limit_body(payload: object) -> bool:
    """True for a 200 body that is really a throttle (an MX rate-limit exception)."""
    if not isinstance(payload, Mapping):
        return False
    texts: list[str | None] = []
    for key, value in payload.items():  # pyright: ignore[reportUnknownVariableType]
        if isinstance(key, str) and key.lower() in (
            "exceptiontype",
            "exceptionmessage",
            "message",
            "status",
        ):
            texts.append(value if isinstance(value, str) else None)
    found = find_exception(*texts)
    return found is not None and found.lower() == _RATE_LIMIT_EXCEPTION.lower()


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` / ``retry-after-ms`` headers, or ``None``.

    Accepts delta-seconds, milliseconds and HTTP-dates; ignores nonsense and caps the
    result at ten minutes so a hostile header cannot park callers forever.
    """
    lowered: dict[str, Any] = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if isinstance(millis, str):
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return min(value, _MAX_RETRY_AFTER)
    raw = lowered.get("retry-after")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        seconds = float(raw.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
