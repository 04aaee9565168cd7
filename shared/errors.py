"""The one exception tree of capture-status.

Every failure that leaves ``shared/`` is one of these. No ``httpx`` exception and no
parsing error crosses this boundary (a test proves it).

::

    CaptureStatusError                     base: message, request_id, retryable, ...
    ├── InvalidRequestIdError              input is not (and does not contain) a GUID
    ├── ConfigurationError                 a setting is missing or invalid
    ├── TooManyRequestIdsError             more ids than a front door accepts at once
    ├── UnknownAccountError                no such account, or not one this caller may reach
    ├── TooManyWaitsError                  this caller already has as many waits running as allowed
    ├── TooManyWatchesError                a person or workspace follows as many requests as allowed
    ├── WatchUnavailableError              the store of watches is down (lookups still work)
    └── UpstreamError                      anything LeadSquared (or the way to it) did
        ├── BadRequestError                400: the request was not per spec
        ├── AuthenticationError            401: wrong key, deactivated user or wrong region
        ├── RequestNotFoundError           no such RequestId here (typo, region, expired)
        ├── EndpointNotFoundError          gateway 404 on every status path (host/path wrong)
        ├── RateLimitedError               429 or an MX rate-limit body (retryable)
        ├── ServerError                    5xx (retryable)
        ├── UpstreamTimeoutError           no answer in time (retryable)
        ├── UpstreamConnectionError        could not connect / connection reset (retryable)
        ├── MalformedResponseError         empty, non-JSON or shapeless body
        │   └── UnshowableAnswerError      an answer that parsed but could not be shown
        ├── ResponseTooLargeError          an answer far larger than any status (not read)
        ├── DeadlineExceededError          the whole lookup ran out of time
        └── CircuitOpenError               LeadSquared kept failing; failing fast for a while

Each message is written for a person and ends with what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CaptureStatusError",
    "CircuitOpenError",
    "ConfigurationError",
    "DeadlineExceededError",
    "EndpointNotFoundError",
    "InvalidRequestIdError",
    "MalformedResponseError",
    "RateLimitedError",
    "RequestNotFoundError",
    "ResponseTooLargeError",
    "ServerError",
    "TooManyRequestIdsError",
    "TooManyWatchesError",
    "UnknownAccountError",
    "UnshowableAnswerError",
    "UpstreamConnectionError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "WatchUnavailableError",
]


class CaptureStatusError(Exception):
    """Base of every error raised by capture-status.

    Attributes:
        message: a sentence for a person, saying what happened and what to do next.
        request_id: the LeadSquared RequestId the error is about, when there is one.
        http_status: the upstream HTTP status, when one was received.
        retry_after: seconds after which trying again is sensible, when known.
        retryable: whether the same call may succeed later without any change.
    """

    retryable: bool = False
    #: a short, stable label for logs, metrics and JSON output
    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, request_id={self.request_id!r}, "
            f"http_status={self.http_status!r}, retry_after={self.retry_after!r})"
        )

    def with_request_id(self, request_id: str) -> CaptureStatusError:
        """Return this error tagged with ``request_id`` when it has none yet."""
        if self.request_id is None:
            self.request_id = request_id
        return self


class InvalidRequestIdError(CaptureStatusError):
    """The text given is not a RequestId and contains none. Raised before any upstream call."""

    code = "invalid_request_id"


class ConfigurationError(CaptureStatusError):
    """A setting is missing or invalid; the message names every bad variable."""

    code = "configuration"


class TooManyRequestIdsError(CaptureStatusError):
    """More ids were asked for at once than allowed."""

    code = "too_many_ids"

    @classmethod
    def over_cap(cls, count: int, cap: int) -> TooManyRequestIdsError:
        """``count`` ids were given where at most ``cap`` are looked up at a time."""
        return cls(
            f"{count} RequestIds were given; at most {cap} are looked up at a time. "
            f"Split them into batches of {cap} or fewer."
        )

    @classmethod
    def over_watch_cap(cls, count: int, cap: int) -> TooManyRequestIdsError:
        """``count`` ids were given to watch where one request here watches at most ``cap``."""
        return cls(
            f"{count} RequestIds were given; at most {cap} are watched with one request. "
            f"Watch the others in groups of {cap} or fewer."
        )

    @classmethod
    def over_batch_cap(cls, count: int, cap: int) -> TooManyRequestIdsError:
        """``count`` distinct ids were found where one batch here takes at most ``cap``."""
        return cls(
            f"Found {count:,} distinct RequestIds; at most {cap:,} are triaged at a time here. "
            f"Split them into parts of at most {cap:,}, or run the CLI, which takes any "
            "number: capture-status triage FILE (every RequestId in FILE; - reads standard "
            "input)."
        )


class UnknownAccountError(CaptureStatusError):
    """The account named is not configured here, or the caller may not reach it."""

    code = "unknown_account"

    @classmethod
    def unknown(cls, name: str, known: Sequence[str]) -> UnknownAccountError:
        """No account is called ``name``; ``known`` are the ones there are."""
        return cls(
            f"There is no LeadSquared account called {name.strip()[:40]!r} here. "
            f"Use one of: {', '.join(known)}."
        )

    @classmethod
    def unreachable(cls, name: str | None, allowed: Sequence[str]) -> UnknownAccountError:
        """This caller may reach only ``allowed``; ``name`` (or no name) is not among them.

        The message lists only what the caller may reach, never other accounts.
        """
        if not allowed:
            return cls(
                "This caller may not reach any LeadSquared account here. Ask an admin of this "
                "tool to give its token an account."
            )
        if name is None:
            return cls(f"Name the LeadSquared account to ask: one of {', '.join(allowed)}.")
        return cls(
            f"This caller may not reach a LeadSquared account called {name.strip()[:40]!r}. "
            f"Use one of: {', '.join(allowed)}."
        )


class TooManyWaitsError(CaptureStatusError):
    """A caller started more waits at once than one caller may run."""

    code = "too_many_waits"
    retryable = True

    @classmethod
    def over_cap(cls, cap: int) -> TooManyWaitsError:
        """The caller already runs ``cap`` waits, the most one caller may run at once."""
        return cls(
            f"{cap} waits are already running for this caller, the most one caller may run at "
            "once (so that one client cannot hold the account's budget). Wait for one of them "
            "to end, or look the request up now and wait again later."
        )


class TooManyWatchesError(CaptureStatusError):
    """A person, or a whole workspace, already follows as many requests as allowed."""

    code = "too_many_watches"

    @classmethod
    def for_person(cls, cap: int) -> TooManyWatchesError:
        """The person already follows ``cap`` requests."""
        return cls(
            f"You already follow {cap} capture requests, the most one person may follow at "
            "once. Stop one you no longer need (`watches` lists them, each with a Stop "
            "button), or wait for one to finish."
        )

    @classmethod
    def for_scope(cls, cap: int) -> TooManyWatchesError:
        """The workspace (or token) already follows ``cap`` requests."""
        return cls(
            f"This workspace already follows {cap} capture requests, the most it may follow "
            "at once. Ask whoever runs capture-status to raise WATCHES_PER_WORKSPACE, or wait "
            "for some to finish."
        )


class WatchUnavailableError(CaptureStatusError):
    """The store that keeps watches cannot be reached or is not set up; lookups still work."""

    code = "watch_unavailable"
    retryable = True

    @classmethod
    def store_down(cls) -> WatchUnavailableError:
        """The database did not answer."""
        return cls(
            "capture-status cannot watch right now: its database of watches is not answering. "
            "Look the request up again with Refresh meanwhile, and try watching again in a few "
            "minutes; whoever runs capture-status can check DATABASE_URL and /readyz."
        )

    @classmethod
    def schema_behind(cls, how: str) -> WatchUnavailableError:
        """The database answers but its schema is not this version's."""
        return cls(f"capture-status cannot watch right now: {how}. Lookups keep working meanwhile.")

    @classmethod
    def not_configured(cls) -> WatchUnavailableError:
        """This process runs without a store."""
        return cls(
            "capture-status cannot watch here: this process runs without its database of "
            "watches. Look the request up again with Refresh, or set DATABASE_URL."
        )


class UpstreamError(CaptureStatusError):
    """LeadSquared, or the network on the way to it, did not give a usable answer."""

    code = "upstream"


class BadRequestError(UpstreamError):
    """HTTP 400: LeadSquared says the request is not per spec."""

    code = "bad_request"


class AuthenticationError(UpstreamError):
    """HTTP 401: the x-api-key was refused."""

    code = "authentication"


class RequestNotFoundError(UpstreamError):
    """LeadSquared knows no request with this id on this host."""

    code = "not_found"


class EndpointNotFoundError(UpstreamError):
    """The gateway answered 404 for every candidate status path: the host or path is wrong."""

    code = "endpoint_not_found"


class RateLimitedError(UpstreamError):
    """LeadSquared throttled us (HTTP 429 or an MX rate-limit exception in a 200 body)."""

    code = "rate_limited"
    retryable = True


class ServerError(UpstreamError):
    """HTTP 5xx from LeadSquared."""

    code = "server_error"
    retryable = True


class UpstreamTimeoutError(UpstreamError):
    """LeadSquared did not answer one attempt in time."""

    code = "timeout"
    retryable = True


class UpstreamConnectionError(UpstreamError):
    """The connection to LeadSquared could not be made or was cut."""

    code = "connection"
    retryable = True


class MalformedResponseError(UpstreamError):
    """LeadSquared answered with a body that cannot be read as a status.

    Retryable: a cut or garbled body is usually a transient fault on the way, and the
    advice to people is to try again.
    """

    code = "malformed_response"
    retryable = True


class UnshowableAnswerError(MalformedResponseError):
    """An answer was read but could not be explained or shown; it is dropped from the cache.

    Only that id fails: the others of a batch are answered as usual.
    """

    code = "unshowable_answer"

    def __init__(self, request_id: str | None = None) -> None:
        super().__init__(
            "LeadSquared's answer for this request could not be shown: its content is "
            "malformed in a way capture-status does not handle. It was not kept, so the next "
            "lookup asks again; if this persists, report it with the RequestId.",
            request_id=request_id,
        )


class ResponseTooLargeError(UpstreamError):
    """The answer was larger than any status answer could be; reading stopped at the cap.

    Not retryable: the same host will answer the same way. It usually means the base URL
    (or a proxy on the way) is not LeadSquared's async API.
    """

    code = "response_too_large"


class DeadlineExceededError(UpstreamError):
    """The lookup as a whole (waits, attempts and backoff) ran out of time."""

    code = "deadline_exceeded"
    retryable = True


class CircuitOpenError(UpstreamError):
    """LeadSquared failed several times in a row; calls fail fast until a probe succeeds."""

    code = "circuit_open"
    retryable = True
