"""How every entry point starts, and the exit statuses they all end with.

``python -m bot``, ``python -m mcp_server`` and the ``capture-status`` command start the same
way: :func:`start` reads the settings once, sets up logging with every secret masked, then
runs the entry point's own start-up checks. A problem with any of these is written to stderr
as the message says it (one message, never a traceback) and :class:`StartupFailed` carries
the exit status back to the entry point, which returns it::

    try:
        settings = start(checks=[check_slack_settings])
    except StartupFailed as failed:
        return failed.exit_code

A start-up check is a function of the settings that raises
:class:`~shared.errors.ConfigurationError` naming what to fix; every failing check is
reported, not only the first. Problems found later, once serving has begun, are reported the
same way by :func:`report`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from shared.errors import ConfigurationError
from shared.infra.logs import configure_logging
from shared.settings import Settings, load_settings

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "StartupCheck",
    "StartupFailed",
    "all_secret_values",
    "report",
    "start",
]

#: success: every lookup found its request, or a server stopped cleanly
EXIT_OK: Final = 0
#: the work failed: a lookup failed (CLI), or a server could not start for a reason other
#: than its settings (a taken port, Slack unreachable)
EXIT_FAILED: Final = 1
#: a usage or configuration problem: a bad command line (argparse's own status), a missing or
#: invalid setting, a refused token
EXIT_USAGE: Final = 2
#: an unexpected error, reported without a traceback (``EX_SOFTWARE`` of sysexits.h)
EXIT_INTERNAL: Final = 70
#: stopped by Ctrl-C (128 + SIGINT)
EXIT_INTERRUPTED: Final = 130

#: checks the settings for what one entry point needs; raises ConfigurationError if unfit
StartupCheck = Callable[[Settings], None]


class StartupFailed(Exception):
    """The process cannot start; the reason was already written to stderr.

    Attributes:
        message: what was written, for the person running the process.
        exit_code: the status the entry point exits with.
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def report(message: str, exit_code: int = EXIT_USAGE) -> int:
    """Write ``message`` to stderr as one block (no traceback) and return ``exit_code``."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    return exit_code


def all_secret_values(settings: Settings) -> list[str]:
    """Every secret of this process: the settings' and those the accounts file points at."""
    from shared.accounts import secret_values

    return [*settings.secret_values(), *secret_values(settings)]


def start(
    *,
    overrides: Mapping[str, object] | None = None,
    checks: Iterable[StartupCheck] = (),
    log_level: str | None = None,
) -> Settings:
    """Read the settings, set up logging, and run the start-up ``checks``.

    Logging is set up before the checks run, so whatever they log goes through the secret
    filter like every later record.

    Args:
        overrides: settings given on top of the environment and ``.env`` (e.g.
            ``{"_env_file": None}``), see :func:`shared.settings.load_settings`.
        checks: the entry point's own checks of the settings, run in order; each raises
            :class:`~shared.errors.ConfigurationError` naming what to fix.
        log_level: the root log level; by default the settings' ``LSQ_LOG_LEVEL``.

    Returns:
        The settings, read once for the whole process.

    Raises:
        StartupFailed: a setting is missing or invalid, or a check failed (exit status 2);
            its message, naming every problem found, is already on stderr.
    """
    try:
        settings = load_settings(**(overrides or {}))
    except ConfigurationError as error:
        report(error.message)
        raise StartupFailed(error.message) from None
    configure_logging(
        log_level or settings.lsq_log_level,
        settings.lsq_log_format,
        secrets=all_secret_values(settings),
    )
    problems: list[str] = []
    for check in checks:
        try:
            check(settings)
        except ConfigurationError as error:
            problems.append(error.message)
    if problems:
        message = "\n".join(problems)
        report(message)
        raise StartupFailed(message)
    return settings
