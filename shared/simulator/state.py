"""The simulator's state: requests and their progression, the rate windows, faults, calls.

One :class:`Simulator` lives in ``app.state.simulator``. Tests reach it directly (in
process) or through the ``/_sim/*`` control routes (across processes). Its methods take a
lock because a test thread may drive it while uvicorn serves it from another thread.

Each account of ``config.all_accounts`` has its own data: its seeded samples, submissions
and put answers. A RequestId of one account is unknown to every other, as it would be on
two LeadSquared accounts. Methods that read or change data take ``account`` (a name,
``"default"`` unless given); a name the configuration does not declare raises
:class:`UnknownAccountError`. Faults are shared: one applies to whichever account calls.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.simulator.config import DEFAULT_ACCOUNT, QueueModel, SimulatorConfig
from shared.simulator.faults import Fault, FaultKind
from shared.simulator.samples import (
    TASK_TYPE,
    UNKNOWN_REQUEST_ID,
    Sample,
    created_message,
    encode_message,
    encode_request_body,
    exception_message,
    samples_for,
)
from shared.simulator.window import MovingWindow

__all__ = ["CallRecord", "InvalidCaptureBodyError", "Simulator", "UnknownAccountError"]

#: ProcessingRatePerMinute is "averaged over the last 10 minutes" (DOC)
_RATE_PERIOD_SECONDS = 600.0
_SUCCESS_REASON = "Request was successfully completed"
_LAST_STEP = "In-Process-Queue"
_QUEUED_STEP = "In-Process-Queue"
#: what a request in ERROR answers while LeadSquared retries it (as the ``error`` sample)
_ERROR_REASON = "Unable to Connect to DB"
_RETRY_STEP = "Retry-Queue"
#: the opportunity field the simulator treats as mandatory (the opportunity name)
_MANDATORY_FIELD = "mx_Custom_1"


class CallRecord(BaseModel):
    """One request that reached the simulated API host (control routes are not recorded).

    Attributes:
        at: the simulator clock when the call arrived.
        method: the HTTP method.
        path: the URL path.
        status_code: the HTTP status answered; ``None`` when the connection was cut.
        request_id: the RequestId asked about (status) or assigned (capture), if any.
        fault: the fault that shaped the answer, if one applied.
        counted: whether the call counted against the rate window (an authenticated call
            on an API route that the window admitted).
        account: the name of the account whose ``x-api-key`` the call carried; ``None``
            when it carried no key, or one no account has (answered 401 on API routes).
    """

    model_config = ConfigDict(frozen=True)

    at: float
    method: str
    path: str
    status_code: int | None
    request_id: str | None = None
    fault: FaultKind | None = None
    counted: bool = False
    account: str | None = None


class InvalidCaptureBodyError(ValueError):
    """A capture body is not per spec (LeadSquared answers such a POST with 400)."""


class UnknownAccountError(LookupError):
    """An account name the simulator's configuration does not declare.

    Attributes:
        account: the name asked for.
        known: the names it does declare, first account first.
    """

    def __init__(self, account: str, known: tuple[str, ...]) -> None:
        super().__init__(f"no simulated account is named {account!r}; known: {', '.join(known)}")
        self.account = account
        self.known = known


@dataclass(frozen=True)
class _Submission:
    request_id: str
    submitted_at: float
    request_body: str
    final_status: str
    final_reason: str
    message: Mapping[str, Any]
    #: the created opportunity and lead, for later duplicates to point at
    opportunity_id: str | None = None
    prospect_id: str | None = None
    #: when it leaves the queue (processed once); In-Queue before
    done_at: float = 0.0
    #: when its final answer shows; between ``done_at`` and this it answers ERROR
    final_at: float = 0.0


@dataclass(frozen=True)
class _Timing:
    """When one submission leaves the queue and when it is final (see ``QueueModel``)."""

    done_at: float
    final_at: float


@dataclass
class _AccountData:
    """What one account knows: its samples, its submissions and the answers put for it."""

    samples_by_id: Mapping[str, Sample]
    #: the seed of this account's random draws (queue model)
    seed: str = ""
    submissions: dict[str, _Submission] = field(default_factory=dict[str, _Submission])
    #: the submissions that created an opportunity, by ``searchby=value`` of their lead
    created_by_search_value: dict[str, _Submission] = field(default_factory=dict[str, _Submission])
    answers: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    #: when the account's queue has processed everything submitted so far (in order)
    queue_free_at: float = -math.inf
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def clear(self) -> None:
        self.submissions.clear()
        self.created_by_search_value.clear()
        self.answers.clear()
        self.queue_free_at = -math.inf
        self.rng.seed(self.seed)  # a reset replays the same draws

    def timing(self, now: float, config: SimulatorConfig) -> _Timing:
        """When a submission arriving ``now`` is processed and final (draws from ``rng``)."""
        queue = config.queue
        if queue is None:
            done = now + config.processing_seconds
            return _Timing(done, done)
        if queue.in_order:
            start = max(now, self.queue_free_at)
            done = start + self.rng.expovariate(1.0 / queue.mean_service_seconds)
            self.queue_free_at = done
        else:
            done = now + self.rng.uniform(0.0, queue.spread_seconds)
        return _Timing(done, done + self._error_seconds(queue))

    def _error_seconds(self, queue: QueueModel) -> float:
        if queue.error_share <= 0 or self.rng.random() >= queue.error_share:
            return 0.0
        return sum(queue.retry_pauses[: queue.error_retries])


def _lower_keys(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    # LeadSquared's .NET binding reads body keys case-insensitively (INF)
    return {str(key).lower(): value for key, value in mapping.items()}


def _new_guid() -> str:
    while (guid := str(uuid.uuid4())) == UNKNOWN_REQUEST_ID:
        pass  # pragma: no cover - astronomically unlikely
    return guid


class Simulator:
    """The state behind the simulated LeadSquared async API.

    Attributes:
        config: the configuration it was created with.
        calls: every request that reached the API host, in arrival order.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.calls: list[CallRecord] = []
        self._lock = threading.Lock()
        self._windows: dict[str, MovingWindow] = {}
        self._fault: Fault | None = None
        seed = self.config.queue.seed if self.config.queue is not None else 0
        self._accounts = {
            account.name: _AccountData(
                {sample.request_id: sample for sample in samples_for(account.name).values()},
                seed=f"{seed}:{account.name}",
            )
            for account in self.config.all_accounts
        }

    def _data(self, account: str) -> _AccountData:
        data = self._accounts.get(account)
        if data is None:
            raise UnknownAccountError(account, tuple(self._accounts))
        return data

    # ---- time, window, faults -------------------------------------------------------

    def now(self) -> float:
        """The simulator clock (``config.clock``)."""
        return self.config.clock()

    def _window(self, api_key: str) -> MovingWindow:
        # one window per key, so one per account: account keys are distinct
        window = self._windows.get(api_key)
        if window is None:
            window = MovingWindow(self.config.rate_limit_calls, self.config.rate_limit_seconds)
            self._windows[api_key] = window
        return window

    def admit(self, api_key: str, now: float) -> bool:
        """Count a call of ``api_key`` at ``now`` against its window, if the window has room."""
        with self._lock:
            return self._window(api_key).try_admit(now)

    def retry_after_header(self, api_key: str, now: float) -> str:
        """Whole seconds until ``api_key``'s window has room again (at least 1)."""
        with self._lock:
            return self._window(api_key).retry_after_header(now)

    @property
    def fault(self) -> Fault | None:
        """The fault currently set (with its ``remaining`` count as it stands), if any."""
        return self._fault

    def set_fault(self, fault: Fault | None) -> None:
        """Apply ``fault`` to the following API calls, or clear faults with ``None``."""
        with self._lock:
            self._fault = fault

    def take_fault(self, path: str, *, is_status_route: bool) -> Fault | None:
        """The fault for a call on ``path``, counting its ``remaining`` down by one."""
        with self._lock:
            fault = self._fault
            if fault is None or not fault.applies_to(path, is_status_route=is_status_route):
                return None
            if fault.remaining is not None:
                left = fault.remaining - 1
                self._fault = fault.model_copy(update={"remaining": left}) if left else None
            return fault

    # ---- calls ---------------------------------------------------------------------

    def record(self, call: CallRecord) -> None:
        """Append ``call`` to :attr:`calls`."""
        with self._lock:
            self.calls.append(call)

    def calls_of(self, account: str | None = None) -> list[CallRecord]:
        """The recorded calls, in arrival order: all of them, or those of ``account``.

        Raises:
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        with self._lock:
            if account is None:
                return list(self.calls)
            self._data(account)
            return [call for call in self.calls if call.account == account]

    def reset_calls(self, account: str | None = None) -> None:
        """Forget the recorded calls, or those of ``account`` (windows, faults, data are kept).

        Raises:
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        with self._lock:
            if account is None:
                self.calls.clear()
            else:
                self._data(account)
                self.calls[:] = [call for call in self.calls if call.account != account]

    def reset(self, account: str | None = None) -> None:
        """Back to the initial state: no calls, no fault, empty windows, no submissions.

        With ``account``, only that account goes back: its calls, its window, its
        submissions and put answers. The fault, shared by all accounts, is kept.

        Raises:
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        with self._lock:
            if account is None:
                self.calls.clear()
                self._windows.clear()
                self._fault = None
                for data in self._accounts.values():
                    data.clear()
                return
            self._data(account).clear()
            self.calls[:] = [call for call in self.calls if call.account != account]
            for served in self.config.all_accounts:
                if served.name == account:
                    self._windows.pop(served.api_key, None)

    def count(
        self, status_code: int | None = None, path: str | None = None, account: str | None = None
    ) -> int:
        """How many recorded calls match ``status_code``, ``path`` and ``account`` (``None`` = any).

        ``account`` is matched against :attr:`CallRecord.account` as is: a name no account
        has counts nothing.
        """
        with self._lock:
            return sum(
                1
                for call in self.calls
                if (status_code is None or call.status_code == status_code)
                and (path is None or call.path == path)
                and (account is None or call.account == account)
            )

    def max_calls_in_any_window(self, seconds: float, account: str | None = None) -> int:
        """The most calls that reached a rate window in any half-open period of ``seconds``.

        Calls the window refused (429) are included: they were sent, so a client that sent
        more than N in some period shows more than N here, not just its 429s. ``None``
        counts the calls of every account together; a name, that account's alone (the
        budget each account has).
        """
        with self._lock:
            times = sorted(
                call.at
                for call in self.calls
                if (call.counted or call.status_code == 429)
                and (account is None or call.account == account)
            )
        best = 0
        start = 0
        for end, at in enumerate(times):
            while at - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    # ---- requests --------------------------------------------------------------------

    def status_envelope(
        self, request_id: str, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Any] | None:
        """``account``'s status answer for ``request_id`` at the current clock.

        ``None`` when ``account`` does not know the id (another account may).

        Raises:
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        key = request_id.strip().lower()
        with self._lock:
            data = self._data(account)
            answer = data.answers.get(key)
            submission = data.submissions.get(key)
        if answer is not None:
            return {"RequestId": key, "TaskStatus": copy.deepcopy(answer)}
        if submission is not None:
            return self._submission_envelope(submission, self.now())
        sample = data.samples_by_id.get(key)
        # a deep copy: callers (faults) may reshape the answer, the sample must not change
        return None if sample is None else copy.deepcopy(dict(sample.envelope))

    def samples(self, account: str = DEFAULT_ACCOUNT) -> Mapping[str, Sample]:
        """The seeded samples of ``account`` by name (see :func:`samples_for`).

        Raises:
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        self._data(account)
        return samples_for(account)

    def put_answer(
        self, request_id: str, task_status: Mapping[str, Any], account: str = DEFAULT_ACCOUNT
    ) -> None:
        """Answer ``request_id`` with ``task_status`` (any shape), for ``account`` only.

        Tests and benchmarks use it to serve answers no sample has: huge, deep, malformed.

        Raises:
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        with self._lock:
            self._data(account).answers[request_id.strip().lower()] = dict(task_status)

    def _submission_envelope(self, submission: _Submission, now: float) -> dict[str, Any]:
        task: dict[str, Any] = {"TaskType": TASK_TYPE}
        if now < submission.done_at:
            task |= {
                "Status": "In-Queue",
                "StatusReason": None,
                "TaskCurrentStep": _QUEUED_STEP,
                "TaskLastStep": None,
                "RequestBody": submission.request_body,
                "Message": None,
            }
        elif now < submission.final_at:
            task |= {
                "Status": "ERROR",
                "StatusReason": _ERROR_REASON,
                "TaskCurrentStep": _RETRY_STEP,
                "TaskLastStep": _LAST_STEP,
                "RequestBody": submission.request_body,
                "Message": None,
            }
        else:
            task |= {
                "Status": submission.final_status,
                "StatusReason": submission.final_reason,
                "TaskCurrentStep": None,
                "TaskLastStep": _LAST_STEP,
                "RequestBody": submission.request_body,
                "Message": encode_message(submission.message),
            }
        return {"RequestId": submission.request_id, "TaskStatus": task}

    def finish_times(self, account: str = DEFAULT_ACCOUNT) -> dict[str, float]:
        """When each submission of ``account`` shows its final answer, by RequestId.

        Benchmarks measure how soon after this moment a watcher told someone.

        Raises:
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        with self._lock:
            return {rid: sub.final_at for rid, sub in self._data(account).submissions.items()}

    def metrics(self, account: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
        """``account``'s queue metrics answer at the current clock, from its queued requests.

        Seeded samples that stay In-Queue forever count as pending but add no delay (like
        the docs' example: one pending message, a maximum delay of 0).

        Raises:
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        now = self.now()
        with self._lock:
            data = self._data(account)
            submissions = list(data.submissions.values())
        pending = 0
        max_delay = 0.0
        finished_recently = 0
        for submission in submissions:
            done_at = submission.done_at
            if now < done_at:
                pending += 1
                max_delay = max(max_delay, done_at - now)
            elif now - _RATE_PERIOD_SECONDS < done_at:
                finished_recently += 1
        pending += sum(
            1 for sample in data.samples_by_id.values() if sample.expected_status == "In-Queue"
        )
        return {
            "PendingMessages": pending,
            "MaxDelayInSeconds": math.ceil(max_delay),
            # the docs' example spells it with a lower-case r: so does the simulator
            "ProcessingratePerMinute": round(finished_recently / (_RATE_PERIOD_SECONDS / 60.0), 1),
        }

    def submit(self, body: Mapping[str, Any] | str | bytes, account: str = DEFAULT_ACCOUNT) -> str:
        """Queue a capture for ``account`` like ``POST <capture path>``; return its RequestId.

        ``body`` is the JSON text as sent (kept verbatim as ``RequestBody``) or an already
        decoded object (encoded the way the docs show ``RequestBody``). The request is
        In-Queue for ``processing_seconds`` by the clock, then final (with a
        ``config.queue``: until the account's queue has processed it, maybe through ERROR
        first; see :class:`~shared.simulator.config.QueueModel`); the final answer is
        decided now, deterministically, from the body:

        - no ``OpportunityEventCode``: FAILURE, MXMandatoryAttributeMissingException;
        - no ``Fields`` (or an empty list): FAILURE, MXInvalidActivityFieldsException;
        - ``OverwriteFields`` and ``UpdateEmptyFields`` both true: FAILURE,
          MXInvalidInputException; so is a ``SearchBy`` naming an attribute not sent;
        - the lead's search value (``SearchBy``, default EmailAddress) equals one created
          earlier by a submission of the same account: Success, duplicate
          (PostDeDupActionPerformed 3);
        - else Success, a new opportunity with fresh GUIDs.

        Raises:
            InvalidCaptureBodyError: the body is not a JSON object with ``LeadDetails`` (a
                list) and ``Opportunity`` (an object).
            UnknownAccountError: ``account`` names no account of the configuration.
        """
        if isinstance(body, Mapping):
            decoded: object = body
            request_body = encode_request_body(body)
        else:
            request_body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            try:
                decoded = json.loads(request_body)
            except ValueError as exc:
                raise InvalidCaptureBodyError("the request body is not valid JSON") from exc
        if not isinstance(decoded, Mapping):
            raise InvalidCaptureBodyError("the request body is not a JSON object")
        top = _lower_keys(decoded)  # pyright: ignore[reportUnknownArgumentType]
        lead_details = top.get("leaddetails")
        opportunity = top.get("opportunity")
        if not isinstance(lead_details, list) or not isinstance(opportunity, Mapping):
            raise InvalidCaptureBodyError(
                "LeadDetails (a list) and Opportunity (an object) are required"
            )
        with self._lock:
            data = self._data(account)
            request_id = _new_guid()
            now = self.now()
            submission = self._decide(
                data,
                request_id,
                now,
                request_body,
                lead_details,  # pyright: ignore[reportUnknownArgumentType]
                _lower_keys(opportunity),  # pyright: ignore[reportUnknownArgumentType]
            )
            timing = data.timing(now, self.config)
            data.submissions[request_id] = dataclasses.replace(
                submission, done_at=timing.done_at, final_at=timing.final_at
            )
        return request_id

    def _decide(
        self,
        data: _AccountData,
        request_id: str,
        now: float,
        request_body: str,
        lead_details: list[Any],
        opportunity: dict[str, Any],
    ) -> _Submission:
        def failure(exception_type: str, text: str) -> _Submission:
            return _Submission(
                request_id=request_id,
                submitted_at=now,
                request_body=request_body,
                final_status="FAILURE",
                final_reason=text,
                message=exception_message(exception_type, text, sync_request_id=_new_guid()),
            )

        if opportunity.get("opportunityeventcode") in (None, ""):
            return failure(
                "MXMandatoryAttributeMissingException",
                "OpportunityEventCode is a mandatory attribute.",
            )
        fields = opportunity.get("fields")
        if not isinstance(fields, list) or not fields:
            return failure(
                "MXInvalidActivityFieldsException",
                f"Field name : '{_MANDATORY_FIELD}' of datatype : 'String' is mandatory.",
            )
        if (
            opportunity.get("overwritefields") is True
            and opportunity.get("updateemptyfields") is True
        ):
            return failure(
                "MXInvalidInputException",
                "OverwriteFields and UpdateEmptyFields cannot both be true.",
            )
        attributes: dict[str, Any] = {}
        for item in lead_details:
            if isinstance(item, Mapping):
                entry = _lower_keys(item)  # pyright: ignore[reportUnknownArgumentType]
                attributes.setdefault(str(entry.get("attribute", "")).lower(), entry.get("value"))
        search_by = str(attributes.get("searchby") or "EmailAddress")
        search_value = attributes.get(search_by.lower())
        if "searchby" in attributes and search_value in (None, ""):
            return failure("MXInvalidInputException", f"Invalid SearchBy value : '{search_by}'.")
        search_key = f"{search_by.lower()}={str(search_value).strip().lower()}"

        earlier = data.created_by_search_value.get(search_key) if search_value else None
        if earlier is not None:
            return _Submission(
                request_id=request_id,
                submitted_at=now,
                request_body=request_body,
                final_status="Success",
                final_reason=_SUCCESS_REASON,
                message={
                    "AdditionalDetails": [
                        {"ActivityId": _new_guid(), "PostDeDupActionPerformed": 3}
                    ],
                    "ConflictedOpportunityId": earlier.opportunity_id,
                    "CreatedOpportunityId": None,
                    "ExceptionMessage": None,
                    "ExceptionType": None,
                    "IsUnique": False,
                    "PrimaryAction": 1,
                    "RelatedProspectId": earlier.prospect_id,
                    "RequestId": _new_guid(),
                    "SecondaryAction": 3,
                    "Status": 0,
                },
            )
        opportunity_id = _new_guid()
        prospect_id = _new_guid()
        created = _Submission(
            request_id=request_id,
            submitted_at=now,
            request_body=request_body,
            final_status="Success",
            final_reason=_SUCCESS_REASON,
            message=created_message(
                activity_id=_new_guid(),
                opportunity_id=opportunity_id,
                prospect_id=prospect_id,
                sync_request_id=_new_guid(),
            ),
            opportunity_id=opportunity_id,
            prospect_id=prospect_id,
        )
        if search_value:
            data.created_by_search_value[search_key] = created
        return created
