"""``python -m shared.simulator``: serve the LeadSquared async API simulator with uvicorn.

Binds to loopback by default, prints the base URL, the accounts served (names, not keys)
and each account's seeded sample RequestIds, and serves until Ctrl-C. ``--api-key`` is the
key of the first account, ``default``; each ``--account NAME=KEY`` serves one more::

    python -m shared.simulator --api-key key-a --account eu=key-b --account us=key-c
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from shared.simulator.app import create_app
from shared.simulator.config import QueueModel, SimulatedAccount, SimulatorConfig
from shared.simulator.samples import UNKNOWN_REQUEST_ID, samples_for
from shared.simulator.server import start_simulator_server

__all__ = ["ServeOptions", "main", "parse_options"]


@dataclass(frozen=True)
class ServeOptions:
    """What ``python -m shared.simulator`` was asked to serve, and where.

    Attributes:
        host: the address to bind.
        port: the port to bind (0 picks a free one).
        config: the simulator's configuration, every ``--account`` included.
    """

    host: str
    port: int
    config: SimulatorConfig


def _validation_text(exc: ValidationError) -> str:
    # the messages only: pydantic's full text would repeat the input, keys included
    return "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())


def _account(text: str) -> SimulatedAccount:
    name, equals, key = text.partition("=")
    if not equals or not name or not key:
        # the text is not repeated: without "=" it may well be a key alone
        raise argparse.ArgumentTypeError("expected NAME=KEY, e.g. --account eu=<its x-api-key>")
    try:
        return SimulatedAccount(name=name, api_key=key)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"account {name!r}: {_validation_text(exc)}") from None


def _parser() -> argparse.ArgumentParser:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m shared.simulator",
        description="Serve a simulator of LeadSquared's async Capture Opportunities API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind; 0 picks a free one")
    parser.add_argument(
        "--api-key",
        default=defaults.api_key,
        help=f"the x-api-key of the first account, 'default' (default: {defaults.api_key})",
    )
    parser.add_argument(
        "--account",
        dest="accounts",
        metavar="NAME=KEY",
        type=_account,
        action="append",
        default=[],
        help="serve one more account, with its own key, rate window and data (repeatable)",
    )
    parser.add_argument("--rate-limit-calls", type=int, default=defaults.rate_limit_calls)
    parser.add_argument("--rate-limit-seconds", type=float, default=defaults.rate_limit_seconds)
    parser.add_argument(
        "--processing-seconds",
        type=float,
        default=defaults.processing_seconds,
        help="how long a submitted capture stays In-Queue",
    )
    parser.add_argument(
        "--queue-rate",
        type=float,
        metavar="PER_MINUTE",
        help="serve each account's submissions in order at this average rate, at random "
        "times (instead of a fixed --processing-seconds)",
    )
    parser.add_argument(
        "--error-share",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="with --queue-rate: this share of submissions (0 to 1) goes through ERROR "
        "until LeadSquared's first retry (30 s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="with --queue-rate: the seed of the random draws"
    )
    parser.add_argument(
        "--send-retry-after",
        action="store_true",
        help="add Retry-After to 429 answers (LeadSquared documents none)",
    )
    return parser


def _banner(url: str, config: SimulatorConfig) -> str:
    names = [account.name for account in config.all_accounts]
    first, *others = names
    width = max(len(name) for name in samples_for(first))
    queue = config.queue
    processing = (
        f"processing: {config.processing_seconds:g} s"
        if queue is None
        else f"queue: in order at {queue.rate_per_minute:g} per minute"
        + (f", {queue.error_share:.0%} through ERROR first" if queue.error_share else "")
    )
    lines = [
        f"LeadSquared async API simulator at {url}",
        f"  accounts: {', '.join(names)}   (each its own x-api-key, window and data)",
        f"  limit: {config.rate_limit_calls} calls in {config.rate_limit_seconds:g} s per "
        f"account   {processing}",
        f"  status:  {', '.join(config.status_paths)}   (?RequestID=<id>)",
        f"  metrics: {config.metrics_path}   capture: POST {config.capture_path}",
        f"  sample RequestIds of account {first!r}:",
        *(
            f"    {name:<{width}}  {sample.request_id}  {sample.description}"
            for name, sample in samples_for(first).items()
        ),
        f"    {'(unknown)':<{width}}  {UNKNOWN_REQUEST_ID}  never known: answered with 404",
    ]
    for account in others:
        lines.append(f"  sample RequestIds of account {account!r} (the same samples):")
        lines.extend(
            f"    {name:<{width}}  {sample.request_id}"
            for name, sample in samples_for(account).items()
        )
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines) + "\n"


async def _serve(host: str, port: int, config: SimulatorConfig) -> None:
    running = await start_simulator_server(
        create_app(config), host=host, port=port, handle_signals=True
    )
    sys.stdout.write(_banner(running.url, config))
    sys.stdout.flush()
    await running.wait()


def parse_options(argv: Sequence[str] | None = None) -> ServeOptions:
    """What ``argv`` (``sys.argv[1:]`` when ``None``) asks to serve.

    Raises:
        SystemExit: the arguments are wrong (argparse's usage message and status 2), e.g.
            an ``--account`` without ``=``, two accounts with one name or one key.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        queue = None
        if args.queue_rate is not None:
            queue = QueueModel(
                rate_per_minute=args.queue_rate, error_share=args.error_share, seed=args.seed
            )
        elif args.error_share:
            parser.error("--error-share needs --queue-rate")
        config = SimulatorConfig(
            api_key=args.api_key,
            accounts=tuple(args.accounts),
            rate_limit_calls=args.rate_limit_calls,
            rate_limit_seconds=args.rate_limit_seconds,
            processing_seconds=args.processing_seconds,
            queue=queue,
            send_retry_after=args.send_retry_after,
        )
    except ValidationError as exc:
        parser.error(_validation_text(exc))
    return ServeOptions(host=args.host, port=args.port, config=config)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; return the exit status."""
    options = parse_options(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_serve(options.host, options.port, options.config))
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, TimeoutError, OSError) as exc:
        sys.stderr.write(f"simulator: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
