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
from shared.errors import CaptureStatusError
from shared.explain.engine import describe_metrics
from shared.explain.redact import Redactor
from shared.explain.untrusted import inert, inert_json
from shared.runtime import demo_banner, open_client
from shared.service.views import look_up
from shared.settings import Settings
from shared.startup import EXIT_FAILED as EXIT_LOOKUP_FAILED
from shared.startup import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    StartupFailed,
    start,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capture-status",
        description="Explain LeadSquared async Capture Opportunities requests.",
        epilog="Without LSQ_API_KEY every command runs on the built-in simulator (a demo).",
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
    commands.add_parser("demo", help="look up every sample request of the simulator")
    commands.add_parser(
        "run", help="run the product (the simulator demo when no credentials are set)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``capture-status`` console script."""
    args = _parser().parse_args(argv)
    try:
        # One-shot commands print cards; only `run` (a server) logs at the configured level.
        settings = start(log_level=None if args.command == "run" else "ERROR")
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
        settings = settings.model_copy(update={"lsq_api_key": None, "redis_url": None})
    if settings.demo_mode:
        err.print(f"[bold yellow]{demo_banner()}[/]")
    redactor = Redactor(enabled=settings.lsq_mask_pii)
    async with open_client(settings) as client:
        if args.command == "metrics":
            try:
                metrics = await client.get_metrics()
            except CaptureStatusError as error:
                err.print(inert(error.message), markup=False)
                return EXIT_LOOKUP_FAILED
            if args.json:
                _print_json(out, metrics.model_dump(mode="json"))
            else:
                out.print(metrics_card(metrics, describe_metrics(metrics)))
            return EXIT_OK
        if args.command == "demo":
            from shared.simulator import SAMPLES

            queries = [sample.request_id for sample in SAMPLES.values()]
        else:
            queries = list(args.ids)
        try:
            views = await look_up(
                client,
                queries,
                app_base_url=settings.lsq_app_base_url,
                redactor=redactor,
                fresh=getattr(args, "fresh", False),
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
