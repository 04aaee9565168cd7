"""No secret, no lead PII and no query-string credential reaches any log line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from shared.errors import CaptureStatusError
from shared.explain.redact import mask_json
from shared.infra.logs import QUIET_LIBRARIES, configure_logging, host_for_logs, scrub
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import in_process_transport
from shared.service.views import look_up
from shared.simulator import (
    SAMPLES,
    UNKNOWN_REQUEST_ID,
    Fault,
    FaultKind,
    SimulatorConfig,
    create_app,
)
from tests.conftest import fast_options

API_KEY = "lsq-live-9f8e7d6c5b4a"
MARKER = "lead.marker@example.com"
FAULTS = [
    Fault(kind=FaultKind.SERVER_ERROR, status_code=502, remaining=1),
    Fault(kind=FaultKind.RATE_LIMITED, retry_after=0.01, remaining=1),
    Fault(kind=FaultKind.MX_THROTTLE, remaining=1),
    Fault(kind=FaultKind.MALFORMED_JSON, remaining=1),
    Fault(kind=FaultKind.TRUNCATED_JSON, remaining=1),
    Fault(kind=FaultKind.EMPTY_BODY, remaining=1),
    Fault(kind=FaultKind.CONNECTION_RESET, remaining=1),
    Fault(kind=FaultKind.UNKNOWN_STATUS, remaining=1),
    None,
]


def _pii_of_samples() -> set[str]:
    """Every email, phone number and name the seeded samples carry, to look for in logs."""
    text = json.dumps([sample.envelope for sample in SAMPLES.values()])
    decoded = text.encode().decode("unicode_escape")
    found = set(re.findall(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", decoded))
    pairs = r'"(?:FirstName|LastName|Phone|Mobile)"\s*,\s*"Value"\s*:\s*"([^"]+)"'
    found |= {match.group(1) for match in re.finditer(pairs, decoded)}
    return found


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", "json", secrets=[API_KEY], stream=stream)
    for noisy in ("httpx", "httpcore", "stamina", "shared"):
        logging.getLogger(noisy).setLevel(logging.DEBUG)
    yield stream
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.kind.value if f else "none")
async def test_no_log_line_carries_a_secret_pii_or_a_query_credential(
    log_stream: io.StringIO, fault: Fault | None
) -> None:
    app = create_app(SimulatorConfig(api_key=API_KEY))
    app.state.simulator.set_fault(fault)
    client = CaptureStatusClient(
        fast_options(retry_attempts=2),
        SecretStr(API_KEY),
        transport=in_process_transport(app),
    )
    ids = [s.request_id for s in SAMPLES.values()] + [UNKNOWN_REQUEST_ID, "not an id"]
    async with client:
        views = await look_up(client, ids)
        with contextlib.suppress(CaptureStatusError):
            await client.get_metrics()
    assert views
    logging.getLogger("shared.test").info(
        "GET /opportunity/capture?accessKey=u$r1234&secretKey=abcdef123 with x-api-key: %s",
        API_KEY,
    )
    lines = log_stream.getvalue().splitlines()
    assert lines, "the run logged nothing, so this test proves nothing"
    text = "\n".join(lines)
    assert API_KEY not in text
    assert "u$r1234" not in text
    assert "abcdef123" not in text
    for pii in _pii_of_samples():
        assert pii not in text, pii
    for line in lines:
        json.loads(line)  # every line is one JSON object


def test_the_pii_list_of_this_test_is_not_empty() -> None:
    pii = _pii_of_samples()
    assert any("@" in p for p in pii)
    assert any(p.startswith("+") for p in pii)
    assert "Priya" in pii
    assert mask_json({"EmailAddress": next(p for p in pii if "@" in p)}) != {}


@pytest.mark.parametrize(
    ("url", "host"),
    [
        (
            "https://user:p4ss@api-in21.leadsquared.com/v2/x?accessKey=k",
            "https://api-in21.leadsquared.com",
        ),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("redis://:s3cret@redis.internal:6379/0", "redis://redis.internal:6379"),
        ("http://[::1]:9000/mcp", "http://[::1]:9000"),
        ("http://host:notaport", "(an unreadable URL)"),
        ("not a url", "(a URL without a host)"),
    ],
)
def test_a_url_is_logged_as_its_host_only(url: str, host: str) -> None:
    assert host_for_logs(url) == host


def test_credentials_in_any_url_are_masked_in_every_record(log_stream: io.StringIO) -> None:
    logging.getLogger("some.library").warning(
        "connecting to %s", "https://lsq-user:Sup3r-Secret@api.example.com/x"
    )
    text = log_stream.getvalue()
    assert "api.example.com/x" in text
    assert "Sup3r-Secret" not in text
    assert "lsq-user" not in text


@pytest.mark.parametrize("library", QUIET_LIBRARIES)
def test_libraries_that_echo_payloads_stay_quiet_even_if_they_ask_for_debug(
    log_stream: io.StringIO, library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = library.split(".")
    for depth in range(1, len(parts) + 1):  # a server started earlier may have cut them off
        ancestor = logging.getLogger(".".join(parts[:depth]))
        monkeypatch.setattr(ancestor, "propagate", True)
        monkeypatch.setattr(ancestor, "disabled", False)
    logger = logging.getLogger(f"{library}.inner")
    logger.setLevel(logging.DEBUG)  # as a library may do to itself
    logger.debug("chunk: %s", MARKER)
    logger.info("request: %s", MARKER)
    logger.warning("a warning still shows")
    logging.getLogger("shared.lsq.client").debug("ours at DEBUG shows")
    logger.setLevel(logging.NOTSET)
    text = log_stream.getvalue()
    assert MARKER not in text
    assert "a warning still shows" in text
    assert "ours at DEBUG shows" in text


@pytest.mark.parametrize("hostile", ["a." * 20_000, "a+" * 20_000, "x://" * 10_000])
def test_scrubbing_a_log_line_is_linear_on_hostile_text(hostile: str) -> None:
    # the URL-credential pattern used to backtrack quadratically: ~9 s for these 40,000
    # characters; a bound of 2 s catches that without timing ordinary work
    started = time.perf_counter()
    assert scrub(hostile) == hostile
    assert time.perf_counter() - started < 2
