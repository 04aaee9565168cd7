"""``capture-status run`` (what ``make run`` starts): the product, until Ctrl-C.

Without LeadSquared credentials it starts the simulator on loopback, says loudly that this
is a demo, shows a few sample lookups, and points every front door at the simulator. Front
doors run as child processes (``python -m bot``, ``python -m mcp_server``), exactly as they
are deployed, so this module needs no knowledge of them beyond their command lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

from pydantic import SecretStr
from rich.console import Console

from cli.terminal import metrics_card, status_card
from shared import EXIT_OK, CaptureStatusError, Settings, describe_metrics, inert
from shared.explain.redact import Redactor
from shared.runtime import demo_banner, open_client
from shared.service.views import look_up

__all__ = ["FrontDoor", "front_doors", "run_product"]

#: where the demo simulator listens (the next free port is used if it is taken)
DEMO_SIMULATOR_PORT = 8765
_DEMO_SAMPLES = ("created", "duplicate", "failure_invalid_activity_fields", "error", "in_queue")


@dataclass(frozen=True, slots=True)
class FrontDoor:
    """A front door the launcher can run as a child process."""

    name: str
    argv: tuple[str, ...]
    enabled: bool
    why_not: str = ""
    url: str = ""


#: where ``make run`` serves MCP over streamable HTTP (loopback only)
MCP_DEMO_PORT = 8000


def front_doors(settings: Settings) -> list[FrontDoor]:
    """The front doors of this product and whether ``settings`` allow each to run."""
    slack_ready = settings.slack_bot_token is not None and (
        settings.slack_app_token is not None or settings.slack_signing_secret is not None
    )
    return [
        FrontDoor(
            name="MCP server (streamable HTTP)",
            argv=(
                "-m",
                "mcp_server",
                "--transport",
                "http",
                "--host",
                "127.0.0.1",
                "--port",
                str(MCP_DEMO_PORT),
            ),
            enabled=settings.demo_mode or bool(settings.mcp_auth_tokens),
            why_not="set MCP_AUTH_TOKENS to serve MCP over HTTP",
            url=f"http://127.0.0.1:{MCP_DEMO_PORT}/mcp",
        ),
        FrontDoor(
            name="Slack app",
            argv=("-m", "bot"),
            enabled=slack_ready,
            why_not="set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode) or "
            "SLACK_SIGNING_SECRET (HTTP)",
        ),
    ]


async def run_product(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM. Returns the process exit status."""
    console = Console(highlight=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with _upstream(settings, console) as child_env:
        if child_env:
            settings = settings.model_copy(
                update={
                    "lsq_api_key": SecretStr(child_env["LSQ_API_KEY"]),
                    "lsq_async_base_url": child_env["LSQ_ASYNC_BASE_URL"],
                    "lsq_demo": True,
                }
            )
        await _show_first_answers(settings, console)
        env = {**os.environ, **child_env}
        if settings.demo_mode and not settings.mcp_auth_tokens:
            # The MCP HTTP transport always requires a token: make one for this demo run
            # (loopback only) and show it, since the user needs it to connect.
            env["MCP_AUTH_TOKENS"] = secrets.token_urlsafe(24)
            console.print(f"MCP demo bearer token (this run only): {env['MCP_AUTH_TOKENS']}")
        children = await _start_front_doors(front_doors(settings), env, console)
        if not children and not settings.demo_mode:
            console.print("No front door is configured to run; see the README's settings.")
            return EXIT_OK
        console.print("[bold]Serving. Press Ctrl-C to stop.[/]")
        watchers = [
            asyncio.create_task(_watch(name, child, console, stop)) for name, child in children
        ]
        await stop.wait()
        await _stop_children([child for _, child in children])
        await asyncio.gather(*watchers)
    console.print("Stopped.")
    return EXIT_OK


async def _start_front_doors(
    doors: list[FrontDoor], env: dict[str, str], console: Console
) -> list[tuple[str, asyncio.subprocess.Process]]:
    children: list[tuple[str, asyncio.subprocess.Process]] = []
    for door in doors:
        if not door.enabled:
            console.print(f"- {door.name}: not started ({door.why_not})", style="dim")
            continue
        console.print(f"- {door.name}: python {' '.join(door.argv)}", style="bold")
        if door.url:
            console.print(f"  listening on {door.url}")
        process = await asyncio.create_subprocess_exec(sys.executable, *door.argv, env=env)
        children.append((door.name, process))
    return children


async def _watch(
    name: str, child: asyncio.subprocess.Process, console: Console, stopping: asyncio.Event
) -> None:
    """Say so loudly when a front door stops on its own; the others keep serving."""
    code = await child.wait()
    # On Ctrl-C the children get the signal too; uvicorn re-raises SIGTERM/SIGINT after a
    # graceful shutdown, so those exits are the normal end, not a failure.
    if stopping.is_set() and code in (EXIT_OK, -signal.SIGTERM, -signal.SIGINT):
        return
    console.print(f"{name} stopped (exit status {code}); see its messages above.", style="red")


@contextlib.asynccontextmanager
async def _upstream(settings: Settings, console: Console) -> AsyncGenerator[Mapping[str, str]]:
    """Start the simulator in demo mode; yield the environment the front doors need."""
    if not settings.demo_mode:
        yield {}
        return
    from shared.simulator import SimulatorConfig, create_app
    from shared.simulator.server import start_simulator_server

    config = SimulatorConfig()
    app = create_app(config)
    try:
        running = await start_simulator_server(app, port=DEMO_SIMULATOR_PORT)
    except (RuntimeError, OSError):
        running = await start_simulator_server(app, port=0)
    console.rule("[bold yellow]DEMO[/]")
    console.print(f"[bold yellow]{demo_banner()}[/]")
    console.print(f"Simulator of the LeadSquared async API: [bold]{running.url}[/]")
    console.rule(style="yellow")
    try:
        yield {
            "LSQ_API_KEY": config.api_key,
            "LSQ_ASYNC_BASE_URL": running.url,
            "LSQ_DEMO": "true",
        }
    finally:
        await running.stop()


async def _show_first_answers(settings: Settings, console: Console) -> None:
    """In the demo, a few sample lookups; with credentials, the queue health."""
    async with open_client(settings) as client:
        try:
            metrics = await client.get_metrics()
            console.print(metrics_card(metrics, describe_metrics(metrics)))
        except CaptureStatusError as error:
            console.print(
                "LeadSquared check failed: " + inert(error.message), markup=False, style="red"
            )
        if not settings.demo_mode:
            return
        from shared.simulator import SAMPLES, UNKNOWN_REQUEST_ID

        queries = [SAMPLES[name].request_id for name in _DEMO_SAMPLES if name in SAMPLES]
        views = await look_up(
            client,
            [*queries, UNKNOWN_REQUEST_ID],
            app_base_url=settings.lsq_app_base_url,
            redactor=Redactor(enabled=settings.lsq_mask_pii),
        )
        for view in views:
            console.print(status_card(view))
        console.print(
            "Try: [bold].venv/bin/capture-status get " + (queries[0] if queries else "<id>") + "[/]"
        )


async def _stop_children(children: list[asyncio.subprocess.Process]) -> None:
    for child in children:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.wait(), timeout=15)
        except TimeoutError:
            child.kill()
            await child.wait()
