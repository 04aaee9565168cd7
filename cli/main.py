"""The ``capture-status`` command: look requests up from a terminal, or run the product.

Exit status: 0 when every lookup found its request (``watch``: every request is final),
1 when any lookup failed (the card says why and what to do; ``watch``: the timeout passed
or a request could not be followed), 2 for a usage or configuration problem, 130 when
stopped by Ctrl-C. Never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

from cli.get_many import INTERACTIVE_MAX, look_up_many_ids
from cli.principal import PRINCIPAL
from cli.queries import STDIN, gather_queries
from cli.terminal import metrics_card, status_card
from cli.triage import FORMATS, TriagePlan, plan_triage, read_source, run_triage
from cli.watch import WatchPlan, plan_watch, run_watch
from shared import EXIT_FAILED as EXIT_LOOKUP_FAILED
from shared import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Caller,
    CaptureService,
    CaptureStatusError,
    LookupView,
    Settings,
    StartupFailed,
    WatchUnavailableError,
    check_accounts,
    demo_banner,
    demo_request_ids,
    inert,
    inert_json,
    migrate_store,
    open_service,
    open_store,
    start,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capture-status",
        description="Explain LeadSquared async Capture Opportunities requests.",
        epilog="Without LSQ_API_KEY or LSQ_ACCOUNTS_FILE every command runs on the built-in "
        "simulator (a demo, with two accounts: default and us). Exit status: 0 all answered "
        "(watch: all final), 1 any lookup failed (watch: timed out or could not follow an "
        "id), 2 usage or configuration, 130 stopped by Ctrl-C.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    get = commands.add_parser(
        "get",
        help="look up RequestIds (bare, or inside URLs / log text; - reads standard input)",
        aliases=["status"],
        description="Look up RequestIds and explain each in a card. Any number of ids; "
        f"more than {INTERACTIVE_MAX} are looked up at the bulk lane's pace (people's "
        "lookups go first), with progress on standard error when it is a terminal.",
    )
    get.add_argument(
        "ids",
        nargs="+",
        metavar="ID_OR_TEXT",
        help="a RequestId, or text containing one; - reads standard input and looks up every "
        "RequestId in it (each once, in order)",
    )
    get.add_argument(
        "--json",
        action="store_true",
        help="print every decoded field as JSON (one list, in the order given, at the end)",
    )
    get.add_argument("--fresh", action="store_true", help="skip the cache")
    triage = commands.add_parser(
        "triage",
        help="look up every RequestId of a file or standard input and summarise them",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Find every RequestId in FILE (or standard input), look each up at the bulk\n"
            "lane's pace (people's lookups go first), and print a summary: counts by outcome\n"
            "and status, failures grouped by exception type and reason, the ids to resubmit\n"
            "and to look at again; then one row per id, in input order. Ctrl-C stops\n"
            "cleanly; with --output, running the same command again resumes."
        ),
        epilog=(
            "examples:\n"
            "  capture-status triage ids.log\n"
            "  grep -h RequestId *.log | capture-status triage --format csv > rows.csv\n"
            "  capture-status triage ids.log --output rows.csv   # run again to resume\n\n"
            "exit status: 0 every id answered, 1 any lookup failed, 2 usage or\n"
            "configuration, 130 stopped by Ctrl-C"
        ),
    )
    triage.add_argument(
        "source",
        nargs="?",
        default=STDIN,
        metavar="FILE",
        help="a file holding RequestIds (log lines, URLs, CSV...), or - for standard input "
        "(the default)",
    )
    triage.add_argument(
        "--format",
        choices=FORMATS,
        help="table (for people, the default), or csv / jsonl rows for programs (the "
        "summary then goes to standard error); with --output, taken from the file name "
        "when not given",
    )
    triage.add_argument(
        "--output",
        metavar="PATH",
        help="write the rows to PATH (.csv or .jsonl) as they come, and print the summary "
        "here; running again with the same PATH keeps its settled rows and looks up only "
        "the others",
    )
    watch = commands.add_parser(
        "watch",
        help="follow RequestIds until each is final (- reads standard input)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Look each RequestId up now, then follow those not final yet until they are,\n"
            "with a line per id (redrawn in place on a terminal; a line per change\n"
            "otherwise) and each id's card once it ends. An id that is final already, or\n"
            "unknown, is answered at once and not watched. Checks are paced from what is\n"
            "known (the queue's worst-case delay, LeadSquared's retry schedule for ERROR),\n"
            "below people's lookups; the watch is kept in DATABASE_URL, and whatever is\n"
            "still watched when the command ends is unwatched."
        ),
        epilog=(
            "examples:\n"
            "  capture-status watch c1d867a7-a325-4b68-954f-237dcd3c15e1\n"
            "  capture-status watch ID1 ID2 --timeout 600\n"
            "  grep -h RequestId app.log | capture-status watch -\n\n"
            "exit status: 0 every id is final, 1 the timeout passed or an id could not be\n"
            "followed (unknown, refused, the database of watches down), 2 usage or\n"
            "configuration, 130 stopped by Ctrl-C (with what was seen)"
        ),
    )
    watch.add_argument(
        "ids",
        nargs="+",
        metavar="ID",
        help="a RequestId, or text containing some (a URL, a log line); - reads standard "
        "input and follows every RequestId in it (each once, in order)",
    )
    watch.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop waiting after SECONDS (default and most: how long a watch lasts, "
        "WATCH_EXPIRY_HOURS, 12 h unless set)",
    )
    metrics = commands.add_parser("metrics", help="show the Capture Opportunities queue")
    metrics.add_argument("--json", action="store_true", help="print the figures as JSON")
    demo = commands.add_parser("demo", help="look up every sample request of the simulator")
    demo.add_argument("--json", action="store_true", help="print every decoded field as JSON")
    for command in (get, watch, metrics, demo):
        command.add_argument(
            "--account",
            metavar="NAME",
            help="the LeadSquared account to ask (default: the default account)",
        )
    triage.add_argument(
        "--account",
        metavar="NAME",
        help="ask only this account (default: the default account, then every other "
        "configured account for the ids it does not know)",
    )
    commands.add_parser(
        "migrate",
        help="bring the database of watches (DATABASE_URL) to this version's schema",
        description="Run the schema migrations DATABASE_URL lacks and say where it stands; "
        "running it again changes nothing. The one-shot step of a deployment (the compose "
        "`migrate` service, the Kubernetes Job), run before the replicas start. Exit status: "
        "0 up to date, 1 the database did not answer (the message says what to check).",
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
        # `migrate` needs only DATABASE_URL: a migration job has no accounts file to check.
        settings = start(
            log_level=None if args.command == "run" else "ERROR",
            checks=[] if args.command == "migrate" else [check_accounts],
        )
    except StartupFailed as failed:
        return failed.exit_code
    err = Console(stderr=True, highlight=False)
    try:
        if args.command == "run":
            from cli.launcher import run_product

            return asyncio.run(run_product(settings))
        if args.command == "migrate":
            return asyncio.run(_migrate(settings, err=err))
        plan: TriagePlan | WatchPlan | None = None
        if args.command == "triage":
            planned = plan_triage(args.source, args.format, args.output, args.account)
            if isinstance(planned, str):
                err.print(planned, markup=False)
                return EXIT_USAGE
            plan = planned
        # Input is read before the event loop starts, so that Ctrl-C stops a read at once.
        data = _read_input(args, err)
        if isinstance(data, str):
            err.print(data, markup=False)
            return EXIT_USAGE
        if args.command == "watch":
            longest = settings.watch_expiry_hours * 3600.0
            planned_watch = plan_watch(args.ids, data, timeout=args.timeout, longest=longest)
            if isinstance(planned_watch, str):
                err.print(inert(planned_watch), markup=False)
                return EXIT_USAGE
            if planned_watch.stdin is not None:
                err.print(planned_watch.stdin, markup=False)
            plan = planned_watch
        return asyncio.run(_dispatch(args, settings, err=err, data=data, plan=plan))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:  # the last line of defence: a message, never a traceback
        sys.stderr.write(
            f"capture-status stopped on an unexpected {type(error).__name__}. Please report "
            "it with the command you ran; run with LSQ_LOG_LEVEL=DEBUG for details.\n"
        )
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        return EXIT_INTERNAL


def _read_input(args: argparse.Namespace, err: Console) -> bytes | str:
    """What ``triage`` reads, or standard input for ``get -``; why not, when it cannot be."""

    def read_stdin() -> bytes:
        if sys.stdin.isatty():
            err.print("Reading RequestIds from standard input; end with Ctrl-D.", markup=False)
        return sys.stdin.buffer.read()

    if args.command == "triage":
        return read_source(args.source, read_stdin)
    if args.command in ("get", "status", "watch") and STDIN in args.ids:
        return read_stdin()
    return b""


async def _migrate(settings: Settings, *, err: Console) -> int:
    """``migrate``: run the migrations DATABASE_URL lacks; say where the schema stands."""
    try:
        said = await migrate_store(settings)
    except WatchUnavailableError as error:  # one line each: job logs are read line by line
        err.print(inert(error.message), markup=False, soft_wrap=True)
        return EXIT_LOOKUP_FAILED
    Console(highlight=False).print(said, markup=False, soft_wrap=True)
    return EXIT_OK


async def _dispatch(
    args: argparse.Namespace,
    settings: Settings,
    *,
    err: Console,
    data: bytes,
    plan: TriagePlan | WatchPlan | None,
) -> int:
    out = Console(highlight=False, soft_wrap=False)
    if args.command == "demo":
        # The samples exist only in the simulator: never spend a real account's quota on them.
        settings = settings.model_copy(
            update={"lsq_api_key": None, "lsq_accounts_file": None, "redis_url": None}
        )
    if settings.demo_mode:
        err.print(f"[bold yellow]{demo_banner()}[/]")
    async with contextlib.AsyncExitStack() as stack:
        # Only `watch` keeps anything: the others never open the database of watches.
        store = None
        if args.command == "watch":
            store = await stack.enter_async_context(open_store(settings))
        service = await stack.enter_async_context(open_service(settings, store=store))
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
            if isinstance(plan, WatchPlan):
                return await run_watch(service, plan, account=account, out=out, err=err)
            if plan is not None:
                return await run_triage(service, plan, out=out, err=err, data=data)
            if args.command == "demo":
                views = await service.look_up(
                    demo_request_ids(account), account=account, caller=_interactive()
                )
            else:
                return await _get(service, args, account=account, stdin=data, out=out, err=err)
        except CaptureStatusError as error:
            err.print(inert(error.message), markup=False)
            return EXIT_USAGE
    return _report(views, args, out=out, err=err)


def _interactive() -> Caller:
    """This process, as a person waiting for the answers now."""
    return Caller.interactive(PRINCIPAL)


async def _get(
    service: CaptureService,
    args: argparse.Namespace,
    *,
    account: str,
    stdin: bytes,
    out: Console,
    err: Console,
) -> int:
    """``get``: a few queries as one interactive lookup, more through the bulk lane."""
    queries = [str(query) for query in args.ids]
    if STDIN not in queries and len(queries) <= INTERACTIVE_MAX:  # as ever: each query a card
        views = await service.look_up(
            queries, account=account, fresh=args.fresh, caller=_interactive()
        )
        return _report(views, args, out=out, err=err)
    gathered = gather_queries(queries, lambda: stdin)
    if gathered.stdin is not None:
        err.print(gathered.stdin.describe(), markup=False)
    if not gathered.items:
        return EXIT_USAGE
    if len(gathered.items) <= INTERACTIVE_MAX:
        views = await service.look_up(
            gathered.items, account=account, fresh=args.fresh, caller=_interactive()
        )
        return _report(views, args, out=out, err=err)
    views = await look_up_many_ids(
        service, gathered, account=account, fresh=args.fresh, as_json=args.json, out=out, err=err
    )
    return _report(views, args, out=out, err=err, printed=not args.json)


def _report(
    views: list[LookupView],
    args: argparse.Namespace,
    *,
    out: Console,
    err: Console,
    printed: bool = False,
) -> int:
    """Print the views (unless their cards were printed as they came); the exit status."""
    if getattr(args, "json", False):
        _print_json(out, [v.model_dump(mode="json") for v in views])
    elif not printed:
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
