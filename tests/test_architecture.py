"""The architecture holds: one facade with an exact surface, front doors behind it, layers.

- ``shared/__init__.py`` exports exactly the names below (a change to the public API is a
  deliberate edit of this list), each importable, each loaded only when first used;
- ``bot/``, ``mcp_server/`` and ``cli/`` import nothing from ``shared`` but the facade;
- the core never imports a front door, and the layers below the service never import it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import shared

ROOT = Path(__file__).resolve().parent.parent
FRONT_DOORS = ("bot", "mcp_server", "cli")

EXPECTED = (
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
)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (at any depth: lazy imports included), with its line.

    ``from shared import X`` counts as importing the facade, unless ``X`` is a submodule
    (``from shared import defaults``), which counts as importing ``shared.defaults``.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "shared":
                found.extend(
                    (node.lineno, "shared" if alias.name in EXPECTED else f"shared.{alias.name}")
                    for alias in node.names
                )
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _modules(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def test_the_facade_exports_exactly_the_public_names() -> None:
    assert tuple(shared.__all__) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(shared, name) is not None
    assert name in dir(shared)


def test_a_name_outside_the_facade_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'open_client'"):
        _ = shared.open_client  # pyright: ignore[reportAttributeAccessIssue]


def test_front_doors_import_only_the_facade_from_shared() -> None:
    reaching_past = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _modules(*FRONT_DOORS)
        for line, module in _imports(path)
        if module.startswith("shared.")
    ]
    assert reaching_past == []


def test_the_core_never_imports_a_front_door() -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _modules("shared")
        for line, module in _imports(path)
        if module.split(".")[0] in FRONT_DOORS
    ]
    assert upward == []


@pytest.mark.parametrize("layer", ["lsq", "guard", "explain", "infra", "simulator"])
def test_layers_below_the_service_never_import_it(layer: str) -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _modules(f"shared/{layer}")
        for line, module in _imports(path)
        if module.startswith(("shared.service", "shared.runtime", "shared.demo"))
        or module == "shared"
    ]
    assert upward == []


def test_importing_the_facade_loads_nothing_until_a_name_is_used() -> None:
    probe = (
        "import sys, shared\n"
        "before = sorted(m for m in sys.modules if m.startswith('shared.'))\n"
        "from shared import Settings\n"
        "print(before, 'httpx' in sys.modules, 'shared.lsq.client' in sys.modules)\n"
    )
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[] False False"
