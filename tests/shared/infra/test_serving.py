"""The shared bounds of the HTTP servers: repeated log lines held back, limits from settings."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Iterator

import pytest

from shared.infra.serving import HttpLimits, RateLimitedLog, install_log_rate_limits
from shared.settings import Settings
from tests.conftest import FakeClock

ACCEPT_FAILED = "socket.accept() out of system resource"


@pytest.fixture
def fresh_filters() -> Iterator[None]:
    """The loggers' filters as they were before the test (the filters are process-wide)."""
    names = ("asyncio", "uvicorn.error", "shared.infra.serving")
    saved = {name: list(logging.getLogger(name).filters) for name in names}
    for name in names:
        for existing in saved[name]:
            if isinstance(existing, RateLimitedLog):
                logging.getLogger(name).removeFilter(existing)
    yield
    for name in names:
        logging.getLogger(name).filters[:] = saved[name]


@pytest.mark.usefixtures("fresh_filters")
async def test_a_flood_of_failed_accepts_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    install_log_rate_limits()
    install_log_rate_limits()  # installing twice adds no second filter
    loop = asyncio.get_running_loop()
    for _ in range(1_000):  # what asyncio reports each time accept() hits EMFILE
        loop.call_exception_handler(
            {"message": ACCEPT_FAILED, "exception": OSError(errno.EMFILE, "Too many open files")}
        )
    loop.call_exception_handler({"message": "Task exception was never retrieved"})
    messages = [record.getMessage() for record in caplog.records]
    assert [m.splitlines()[0] for m in messages] == [
        ACCEPT_FAILED,
        "Task exception was never retrieved",
    ]


def test_held_back_lines_are_counted_in_the_next_one_let_through() -> None:
    clock = FakeClock()
    log_filter = RateLimitedLog([ACCEPT_FAILED], interval_seconds=60.0, clock=clock)

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)

    assert log_filter.filter(record(ACCEPT_FAILED))
    assert [log_filter.filter(record(ACCEPT_FAILED)) for _ in range(4)] == [False] * 4
    assert log_filter.held_back(ACCEPT_FAILED) == 4
    assert log_filter.filter(record("something else"))
    clock.advance(59.9)
    assert not log_filter.filter(record(ACCEPT_FAILED))
    clock.advance(0.1)
    next_one = record(ACCEPT_FAILED)
    assert log_filter.filter(next_one)
    assert next_one.getMessage() == f"{ACCEPT_FAILED} (5 more like this held back)"
    assert log_filter.held_back(ACCEPT_FAILED) == 0


def test_the_limits_come_from_the_settings_with_their_defaults_in_one_place() -> None:
    defaults = Settings(_env_file=None)  # pyright: ignore[reportCallIssue]
    assert HttpLimits.defaults() == HttpLimits.from_settings(defaults)
    tuned = Settings(
        _env_file=None,  # pyright: ignore[reportCallIssue]
        http_max_connections=50,
        http_header_timeout_seconds=2.5,
        http_keep_alive_seconds=75,
    )
    assert HttpLimits.from_settings(tuned) == HttpLimits(
        max_connections=50, header_timeout_seconds=2.5, keep_alive_seconds=75
    )
