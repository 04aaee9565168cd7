"""The ``capture-status`` command: look requests up from a terminal, or run the product.

Exit status: 0 when every lookup found its request, 1 when any lookup failed (the card says
why and what to do), 2 for a usage or configuration problem. Never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

from cli.terminal import metrics_card, status_card
from shared import EXIT_FAILED as EXIT_LOOKUP_FAILED
from shared import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CaptureStatusError,
    Settings,
    StartupFailed,
    check_accounts,
    demo_banner,
    demo_request_ids,
    inert,
    inert_json,
    open_service,
    start,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capture-status",
        description="Explain LeadSquared async Capture Opportunities requests.",
        epilog="Without LSQ_API_KEY or LSQ_ACCOUNTS_FILE every command runs on the built-in "
        "simulator (a demo, with two accounts: default and us).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    get = commands.add_parser(
        "get", help="look up RequestIds (bare, or inside URLs / log text)", aliases=["status"]
    )
    get.add_argument("ids", nargs="+", metavar="ID", help="a RequestId, or text containing one")
    get.add_argument("--json", action="store_true", help="print every decoded field as JSON")
    get.add_argument("--fresh", action="store_true", help="skip the cache")
    metrics = commands.add_parser("metrics", help="show the Capture Opportunities queue")
    metrics.add_argument("--json", action="store_true", help="print the figures as JSON")
    demo = commands.add_parser("demo", help="look up every sample request of the simulator")
    demo.add_argument("--json", action="store_true", help="print every decoded field as JSON")
    for command in (get, metrics, demo):
        command.add_argument(
            "--account",
            metavar="NAME",
            help="the LeadSquared account to ask (default: the default account)",
        )
    commands.add_parser(
        "run", help="run the product (the simulator demo when no credentials are set)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``capture-status`` console script."""
    args = _parser().parse_args(argv)
    try:
        # One-shot commands print cards; only `run` (a server) logs at the configured level.
        settings = start(
            log_level=None if args.command == "run" else "ERROR", checks=[check_accounts]
        )
    except StartupFailed as failed:
        return failed.exit_code
    try:
        if args.command == "run":
            from cli.launcher import run_product

            return asyncio.run(run_product(settings))
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:  # the last line of defence: a message, never a traceback
        sys.stderr.write(
            f"capture-status stopped on an unexpected {type(error).__name__}. Please report "
            "it with the command you ran; run with LSQ_LOG_LEVEL=DEBUG for details.\n"
        )
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        return EXIT_INTERNAL


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    out = Console(highlight=False, soft_wrap=False)
    err = Console(stderr=True, highlight=False)
    if args.command == "demo":
        # The samples exist only in the simulator: never spend a real account's quota on them.
        settings = settings.model_copy(
            update={"lsq_api_key": None, "lsq_accounts_file": None, "redis_url": None}
        )
    if settings.demo_mode:
        err.print(f"[bold yellow]{demo_banner()}[/]")
    async with open_service(settings) as service:
        try:
            account = service.account(args.account).name
            if args.command == "metrics":
                health = await service.queue_health(account=account)
                if health.metrics is None or health.reading is None:
                    err.print(
                        inert(health.message or "The queue figures are missing."), markup=False
                    )
                    return EXIT_LOOKUP_FAILED
                if args.json:
                    _print_json(out, {"account": account, **health.metrics.model_dump(mode="json")})
                else:
                    out.print(metrics_card(health.metrics, health.reading, account=account))
                return EXIT_OK
            if args.command == "demo":
                queries = demo_request_ids(account)
            else:
                queries = [str(query) for query in args.ids]
            views = await service.look_up(
                queries, account=account, fresh=getattr(args, "fresh", False)
            )
        except CaptureStatusError as error:
            err.print(inert(error.message), markup=False)
            return EXIT_USAGE
    if getattr(args, "json", False):
        _print_json(out, [v.model_dump(mode="json") for v in views])
    else:
        for view in views:
            out.print(status_card(view))
    failed = sum(not v.found for v in views)
    if failed and args.command != "demo":
        err.print(f"{failed} of {len(views)} lookups failed; each card says why.", markup=False)
        return EXIT_LOOKUP_FAILED
    return EXIT_OK


def _print_json(out: Console, data: object) -> None:
    """Indented JSON, with every invisible or control character inside a string escaped.

    Not ``Console.print_json``: it re-encodes the text and writes C1 and bidi characters raw.
    """
    out.file.write(inert_json(json.dumps(data, ensure_ascii=False, indent=2)) + "\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
