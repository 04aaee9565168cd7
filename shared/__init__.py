"""capture-status's core, behind one facade: front doors import only from here.

``bot/``, ``mcp_server/`` and ``cli/`` write ``from shared import …`` and nothing deeper (a
test enforces it). Everything else under ``shared/`` is internal and may change shape; the
layers are drawn in docs/architecture.md:

- use cases: :class:`CaptureService` (look up, queue health, wait) and its views;
- accounts: :class:`Accounts` and routing (Slack channel/team, MCP token, CLI flag);
- settings and start-up: :class:`Settings`, :func:`load_settings`, :func:`open_service`;
- the explanation vocabulary front doors render (:class:`Explanation`, ...);
- the one exception tree;
- what the HTTP front doors run on (hardened serving, sockets, logging, metrics);
- untrusted-text helpers every renderer uses before escaping for its medium.

Names are imported on first use (PEP 562), so a front door that needs only a few of them
(the MCP server's handshake) does not pay for the whole core at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.accounts import (
        DEFAULT_ACCOUNT,
        DEMO_ACCOUNTS,
        Account,
        Accounts,
        McpToken,
        check_accounts,
        load_accounts,
    )
    from shared.demo import (
        DEMO_SAMPLES,
        DemoUpstream,
        demo_request_ids,
        serve_demo_upstream,
        unknown_request_id,
    )
    from shared.errors import (
        CaptureStatusError,
        ConfigurationError,
        InvalidRequestIdError,
        RateLimitedError,
        TooManyRequestIdsError,
        TooManyWaitsError,
        TooManyWatchesError,
        UnknownAccountError,
        WatchUnavailableError,
    )
    from shared.explain.engine import (
        Explanation,
        Severity,
        describe_metrics,
        explain_error,
        format_duration,
    )
    from shared.explain.facts import Fact, Link
    from shared.explain.mx_exceptions import catalogue_markdown
    from shared.explain.redact import truncate
    from shared.explain.request_summary import RequestSummary
    from shared.explain.untrusted import inert, inert_json
    from shared.guard.lanes import Caller, Lane
    from shared.infra.broadcast import Broadcast
    from shared.infra.logs import configure_logging, host_for_logs, scrub
    from shared.infra.metrics import metrics_app, metrics_registry
    from shared.infra.probes import (
        LIVENESS_PATH,
        READINESS_PATH,
        Readiness,
        ReadinessCheck,
        liveness,
        probe_routes,
        readiness_endpoint,
    )
    from shared.infra.serving import (
        BodyTooLarge,
        BodyTooSlow,
        HttpLimits,
        hardened_config,
        read_body,
    )
    from shared.infra.sockets import LOOPBACK_NAMES, bind_socket, is_loopback
    from shared.lsq.ids import REQUEST_ID_EXAMPLE, extract_request_id, find_request_ids
    from shared.lsq.models import CaptureOutcome, CaptureStatus, QueueMetrics, StatusKind
    from shared.runtime import demo_banner, migrate_store, open_service, open_store
    from shared.service.batch import BatchInput, BatchProgress, read_batch
    from shared.service.capture_service import CaptureService, FoundIds, QueueHealth, WaitView
    from shared.service.triage import (
        OUTCOMES,
        TRIAGE_COLUMNS,
        FailureGroup,
        TriageRow,
        TriageSummary,
        in_input_order,
        rows_from_file,
        summarize,
        triage_csv,
        triage_jsonl,
        triage_row,
    )
    from shared.service.views import ErrorView, LookupView
    from shared.service.waiting import PollSchedule, WaitProgress
    from shared.service.watch_schedule import WatchPolicy
    from shared.service.watch_views import (
        DeliveryResult,
        Notifier,
        WatchEntry,
        WatchNotice,
        WatchView,
        describe_duration,
    )
    from shared.service.watch_waits import WatchWaits
    from shared.service.watcher import WatchCheck, Watcher, running_watcher
    from shared.settings import Settings, load_settings
    from shared.startup import (
        EXIT_FAILED,
        EXIT_INTERNAL,
        EXIT_INTERRUPTED,
        EXIT_OK,
        EXIT_USAGE,
        StartupCheck,
        StartupFailed,
        all_secret_values,
        report,
        start,
    )
    from shared.store import NewSubscriber

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEMO_ACCOUNTS",
    "DEMO_SAMPLES",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "LIVENESS_PATH",
    "LOOPBACK_NAMES",
    "OUTCOMES",
    "READINESS_PATH",
    "REQUEST_ID_EXAMPLE",
    "TRIAGE_COLUMNS",
    "Account",
    "Accounts",
    "BatchInput",
    "BatchProgress",
    "BodyTooLarge",
    "BodyTooSlow",
    "Broadcast",
    "Caller",
    "CaptureOutcome",
    "CaptureService",
    "CaptureStatus",
    "CaptureStatusError",
    "ConfigurationError",
    "DeliveryResult",
    "DemoUpstream",
    "ErrorView",
    "Explanation",
    "Fact",
    "FailureGroup",
    "FoundIds",
    "HttpLimits",
    "InvalidRequestIdError",
    "Lane",
    "Link",
    "LookupView",
    "McpToken",
    "NewSubscriber",
    "Notifier",
    "PollSchedule",
    "QueueHealth",
    "QueueMetrics",
    "RateLimitedError",
    "Readiness",
    "ReadinessCheck",
    "RequestSummary",
    "Settings",
    "Severity",
    "StartupCheck",
    "StartupFailed",
    "StatusKind",
    "TooManyRequestIdsError",
    "TooManyWaitsError",
    "TooManyWatchesError",
    "TriageRow",
    "TriageSummary",
    "UnknownAccountError",
    "WaitProgress",
    "WaitView",
    "WatchCheck",
    "WatchEntry",
    "WatchNotice",
    "WatchPolicy",
    "WatchUnavailableError",
    "WatchView",
    "WatchWaits",
    "Watcher",
    "all_secret_values",
    "bind_socket",
    "catalogue_markdown",
    "check_accounts",
    "configure_logging",
    "demo_banner",
    "demo_request_ids",
    "describe_duration",
    "describe_metrics",
    "explain_error",
    "extract_request_id",
    "find_request_ids",
    "format_duration",
    "hardened_config",
    "host_for_logs",
    "in_input_order",
    "inert",
    "inert_json",
    "is_loopback",
    "liveness",
    "load_accounts",
    "load_settings",
    "metrics_app",
    "metrics_registry",
    "migrate_store",
    "open_service",
    "open_store",
    "probe_routes",
    "read_batch",
    "read_body",
    "readiness_endpoint",
    "report",
    "rows_from_file",
    "running_watcher",
    "scrub",
    "serve_demo_upstream",
    "start",
    "summarize",
    "triage_csv",
    "triage_jsonl",
    "triage_row",
    "truncate",
    "unknown_request_id",
]

#: where each public name lives (internal modules may move; this table moves with them)
_WHERE: dict[str, str] = {
    "Account": "shared.accounts",
    "Accounts": "shared.accounts",
    "BatchInput": "shared.service.batch",
    "BatchProgress": "shared.service.batch",
    "BodyTooLarge": "shared.infra.serving",
    "BodyTooSlow": "shared.infra.serving",
    "Broadcast": "shared.infra.broadcast",
    "Caller": "shared.guard.lanes",
    "CaptureOutcome": "shared.lsq.models",
    "CaptureService": "shared.service.capture_service",
    "CaptureStatus": "shared.lsq.models",
    "CaptureStatusError": "shared.errors",
    "ConfigurationError": "shared.errors",
    "DEFAULT_ACCOUNT": "shared.accounts",
    "DEMO_ACCOUNTS": "shared.accounts",
    "DEMO_SAMPLES": "shared.demo",
    "DeliveryResult": "shared.service.watch_views",
    "DemoUpstream": "shared.demo",
    "EXIT_FAILED": "shared.startup",
    "EXIT_INTERNAL": "shared.startup",
    "EXIT_INTERRUPTED": "shared.startup",
    "EXIT_OK": "shared.startup",
    "EXIT_USAGE": "shared.startup",
    "ErrorView": "shared.service.views",
    "Explanation": "shared.explain.engine",
    "Fact": "shared.explain.facts",
    "FailureGroup": "shared.service.triage",
    "FoundIds": "shared.service.capture_service",
    "HttpLimits": "shared.infra.serving",
    "InvalidRequestIdError": "shared.errors",
    "LIVENESS_PATH": "shared.infra.probes",
    "LOOPBACK_NAMES": "shared.infra.sockets",
    "Lane": "shared.guard.lanes",
    "Link": "shared.explain.facts",
    "LookupView": "shared.service.views",
    "McpToken": "shared.accounts",
    "NewSubscriber": "shared.store",
    "Notifier": "shared.service.watch_views",
    "OUTCOMES": "shared.service.triage",
    "PollSchedule": "shared.service.waiting",
    "QueueHealth": "shared.service.capture_service",
    "QueueMetrics": "shared.lsq.models",
    "READINESS_PATH": "shared.infra.probes",
    "REQUEST_ID_EXAMPLE": "shared.lsq.ids",
    "RateLimitedError": "shared.errors",
    "Readiness": "shared.infra.probes",
    "ReadinessCheck": "shared.infra.probes",
    "RequestSummary": "shared.explain.request_summary",
    "Settings": "shared.settings",
    "Severity": "shared.explain.engine",
    "StartupCheck": "shared.startup",
    "StartupFailed": "shared.startup",
    "StatusKind": "shared.lsq.models",
    "TRIAGE_COLUMNS": "shared.service.triage",
    "TooManyRequestIdsError": "shared.errors",
    "TooManyWaitsError": "shared.errors",
    "TooManyWatchesError": "shared.errors",
    "TriageRow": "shared.service.triage",
    "TriageSummary": "shared.service.triage",
    "UnknownAccountError": "shared.errors",
    "WaitProgress": "shared.service.waiting",
    "WaitView": "shared.service.capture_service",
    "WatchCheck": "shared.service.watcher",
    "WatchEntry": "shared.service.watch_views",
    "WatchNotice": "shared.service.watch_views",
    "WatchPolicy": "shared.service.watch_schedule",
    "WatchUnavailableError": "shared.errors",
    "WatchView": "shared.service.watch_views",
    "WatchWaits": "shared.service.watch_waits",
    "Watcher": "shared.service.watcher",
    "all_secret_values": "shared.startup",
    "bind_socket": "shared.infra.sockets",
    "catalogue_markdown": "shared.explain.mx_exceptions",
    "check_accounts": "shared.accounts",
    "configure_logging": "shared.infra.logs",
    "demo_banner": "shared.runtime",
    "demo_request_ids": "shared.demo",
    "describe_duration": "shared.service.watch_views",
    "describe_metrics": "shared.explain.engine",
    "explain_error": "shared.explain.engine",
    "extract_request_id": "shared.lsq.ids",
    "find_request_ids": "shared.lsq.ids",
    "format_duration": "shared.explain.engine",
    "hardened_config": "shared.infra.serving",
    "host_for_logs": "shared.infra.logs",
    "in_input_order": "shared.service.triage",
    "inert": "shared.explain.untrusted",
    "inert_json": "shared.explain.untrusted",
    "is_loopback": "shared.infra.sockets",
    "liveness": "shared.infra.probes",
    "load_accounts": "shared.accounts",
    "load_settings": "shared.settings",
    "metrics_app": "shared.infra.metrics",
    "metrics_registry": "shared.infra.metrics",
    "migrate_store": "shared.runtime",
    "open_service": "shared.runtime",
    "open_store": "shared.runtime",
    "probe_routes": "shared.infra.probes",
    "read_batch": "shared.service.batch",
    "read_body": "shared.infra.serving",
    "readiness_endpoint": "shared.infra.probes",
    "report": "shared.startup",
    "rows_from_file": "shared.service.triage",
    "running_watcher": "shared.service.watcher",
    "scrub": "shared.infra.logs",
    "serve_demo_upstream": "shared.demo",
    "start": "shared.startup",
    "summarize": "shared.service.triage",
    "triage_csv": "shared.service.triage",
    "triage_jsonl": "shared.service.triage",
    "triage_row": "shared.service.triage",
    "truncate": "shared.explain.redact",
    "unknown_request_id": "shared.demo",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'shared' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
