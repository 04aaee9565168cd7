"""``python -m shared.simulator``: serve the LeadSquared async API simulator with uvicorn.

Binds to loopback by default, prints the base URL and the seeded sample RequestIds, and
serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from shared.simulator.app import create_app
from shared.simulator.config import SimulatorConfig
from shared.simulator.samples import SAMPLES, UNKNOWN_REQUEST_ID
from shared.simulator.server import start_simulator_server


def _parser() -> argparse.ArgumentParser:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m shared.simulator",
        description="Serve a simulator of LeadSquared's async Capture Opportunities API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind; 0 picks a free one")
    parser.add_argument("--api-key", default=defaults.api_key, help="the x-api-key to require")
    parser.add_argument("--rate-limit-calls", type=int, default=defaults.rate_limit_calls)
    parser.add_argument("--rate-limit-seconds", type=float, default=defaults.rate_limit_seconds)
    parser.add_argument(
        "--processing-seconds",
        type=float,
        default=defaults.processing_seconds,
        help="how long a submitted capture stays In-Queue",
    )
    parser.add_argument(
        "--send-retry-after",
        action="store_true",
        help="add Retry-After to 429 answers (LeadSquared documents none)",
    )
    return parser


def _banner(url: str, config: SimulatorConfig) -> str:
    width = max(len(name) for name in SAMPLES)
    lines = [
        f"LeadSquared async API simulator at {url}",
        f"  x-api-key: {config.api_key}   limit: {config.rate_limit_calls} calls in "
        f"{config.rate_limit_seconds:g} s   processing: {config.processing_seconds:g} s",
        f"  status:  {', '.join(config.status_paths)}   (?RequestID=<id>)",
        f"  metrics: {config.metrics_path}   capture: POST {config.capture_path}",
        "  sample RequestIds:",
        *(
            f"    {name:<{width}}  {sample.request_id}  {sample.description}"
            for name, sample in SAMPLES.items()
        ),
        f"    {'(unknown)':<{width}}  {UNKNOWN_REQUEST_ID}  never known: answered with 404",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines) + "\n"


async def _serve(host: str, port: int, config: SimulatorConfig) -> None:
    running = await start_simulator_server(
        create_app(config), host=host, port=port, handle_signals=True
    )
    sys.stdout.write(_banner(running.url, config))
    sys.stdout.flush()
    await running.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; return the exit status."""
    args = _parser().parse_args(argv)
    config = SimulatorConfig(
        api_key=args.api_key,
        rate_limit_calls=args.rate_limit_calls,
        rate_limit_seconds=args.rate_limit_seconds,
        processing_seconds=args.processing_seconds,
        send_retry_after=args.send_retry_after,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_serve(args.host, args.port, config))
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, TimeoutError, OSError) as exc:
        sys.stderr.write(f"simulator: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
