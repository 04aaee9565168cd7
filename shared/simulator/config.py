"""Configuration of the LeadSquared async API simulator.

One simulator can serve several LeadSquared accounts, each known by its own ``x-api-key``:
the first is ``SimulatorConfig.api_key`` (the account named ``"default"``), more are
declared with ``SimulatorConfig.accounts``::

    SimulatorConfig(api_key="key-a", accounts=(SimulatedAccount(name="eu", api_key="key-b"),))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEFAULT_ACCOUNT",
    "ERROR_RETRY_PAUSES",
    "QueueModel",
    "SimulatedAccount",
    "SimulatorConfig",
]

#: the name of the first account, the one ``SimulatorConfig.api_key`` belongs to
DEFAULT_ACCOUNT = "default"

#: LeadSquared's retries of a request in ERROR, in seconds after the previous try (DOC:
#: 30 s, 2, 7, 15, 30, 45, 60 min, 1.5, 2, 3 h)
ERROR_RETRY_PAUSES: tuple[float, ...] = (
    30.0,
    120.0,
    420.0,
    900.0,
    1800.0,
    2700.0,
    3600.0,
    5400.0,
    7200.0,
    10800.0,
)


class SimulatedAccount(BaseModel):
    """One LeadSquared account the simulator serves: its own key, rate window and data.

    Attributes:
        name: how tests and control routes (``?account=NAME``) name it: letters, digits,
            ``.``, ``_`` and ``-``, starting with a letter or digit, at most 64 characters.
        api_key: the ``x-api-key`` that selects it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    api_key: str = Field(min_length=1, repr=False)


class QueueModel(BaseModel):
    """A queue that serves each account's submissions at a rate, like LeadSquared's (INF).

    Without it (``SimulatorConfig.queue`` is ``None``) every submission is In-Queue for
    exactly ``processing_seconds``. With it, each account has one queue:

    - ``in_order`` (the default): submissions are processed one after the other, in the
      order they arrived, each taking a random service time (exponential, averaging
      ``60 / rate_per_minute`` s). A burst of submissions therefore finishes at random
      times spread over minutes, never out of order, and the queue metrics follow:
      ``PendingMessages`` counts the submissions not processed yet, ``MaxDelayInSeconds``
      is the time until everything queued now is processed, ``ProcessingratePerMinute``
      the processed ones of the last ten minutes.
    - ``in_order=False``: each submission finishes at an independent random moment,
      uniformly within ``spread_seconds`` after it arrived (a queue that does not serve in
      order; the metrics are computed the same way).
    - ``error_share`` of the submissions (chosen at random) go through ERROR first: once
      processed they answer ERROR ("Unable to Connect to DB") until LeadSquared's
      ``error_retries``-th retry (``retry_pauses`` after one another), then their final
      answer. A request in ERROR is no longer pending (it left the queue).

    Every random draw comes from ``seed`` (one generator per account), so a run repeats.

    Attributes:
        rate_per_minute: the average processing rate of one account's queue.
        in_order: whether the queue serves in arrival order (see above).
        spread_seconds: with ``in_order=False``, the longest a submission stays queued.
        error_share: the share of submissions that go through ERROR first (0 to 1).
        error_retries: how many of LeadSquared's retries such a request needs (1 to 10).
        retry_pauses: the retry pauses (DOC: LeadSquared's schedule).
        seed: the seed of the random draws.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_per_minute: float = Field(default=20.0, gt=0)
    in_order: bool = True
    spread_seconds: float = Field(default=600.0, gt=0)
    error_share: float = Field(default=0.0, ge=0, le=1)
    error_retries: int = Field(default=1, ge=1, le=10)
    retry_pauses: tuple[float, ...] = ERROR_RETRY_PAUSES
    seed: int = 0

    @model_validator(mode="after")
    def _enough_retry_pauses(self) -> Self:
        if len(self.retry_pauses) < self.error_retries or any(p < 0 for p in self.retry_pauses):
            raise ValueError("retry_pauses needs error_retries pauses, none negative")
        return self

    @property
    def mean_service_seconds(self) -> float:
        """The average time one submission takes to process, in order."""
        return 60.0 / self.rate_per_minute


class SimulatorConfig(BaseModel):
    """How the simulator behaves. Every INF/GAP fact of the upstream API is a knob here.

    Attributes:
        api_key: the ``x-api-key`` of the first account, named ``"default"``.
        accounts: more accounts, each with its own key, window and data. Names must be
            unique (``"default"`` is taken) and keys distinct, ``api_key`` included.
        rate_limit_calls: calls admitted in any ``rate_limit_seconds`` (DOC: 25 in 5 s).
        rate_limit_seconds: length of the moving window.
        processing_seconds: how long a submitted capture stays In-Queue (by ``clock``),
            when there is no ``queue``.
        queue: a queue served at a rate, in order (see :class:`QueueModel`); ``None``
            (the default) keeps every submission In-Queue for ``processing_seconds``.
        status_paths: the paths that serve the status API. Both candidates by default (the
            real path is not preserved in the docs); a test can serve only one of them.
        metrics_path: the queue metrics path (DOC).
        capture_path: the capture submission path (DOC).
        send_retry_after: LeadSquared documents no Retry-After; when True, 429s carry one.
        clock: monotonic seconds; injectable so tests can move time without sleeping.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: str = Field(default="demo-key", min_length=1)
    accounts: tuple[SimulatedAccount, ...] = ()
    rate_limit_calls: int = Field(default=25, ge=1)
    rate_limit_seconds: float = Field(default=5.0, gt=0)
    processing_seconds: float = Field(default=8.0, ge=0)
    queue: QueueModel | None = None
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

    @model_validator(mode="after")
    def _accounts_are_distinct(self) -> Self:
        names: set[str] = set()
        owners: dict[str, str] = {}
        for account in self.all_accounts:
            if account.name in names:
                taken = " (the account of api_key)" if account.name == DEFAULT_ACCOUNT else ""
                raise ValueError(
                    f"account names must be unique: {account.name!r}{taken} is used twice"
                )
            names.add(account.name)
            owner = owners.setdefault(account.api_key, account.name)
            if owner != account.name:
                # the key itself is left out of the message: it may be a real secret
                raise ValueError(
                    f"account keys must be distinct: {owner!r} and {account.name!r} share one"
                )
        return self

    @property
    def all_accounts(self) -> tuple[SimulatedAccount, ...]:
        """Every account served: ``"default"`` (with ``api_key``) first, then ``accounts``."""
        return (SimulatedAccount(name=DEFAULT_ACCOUNT, api_key=self.api_key), *self.accounts)

    def account_for_key(self, api_key: str | None) -> str | None:
        """The name of the account ``api_key`` selects, or ``None`` if it selects none."""
        if api_key is None:
            return None
        if api_key == self.api_key:
            return DEFAULT_ACCOUNT
        for account in self.accounts:
            if account.api_key == api_key:
                return account.name
        return None

    @property
    def limit_text(self) -> str:
        """The documented wording of the limit, e.g. ``the limit of 25 in 5 second(s)``."""
        return f"the limit of {self.rate_limit_calls} in {self.rate_limit_seconds:g} second(s)"
