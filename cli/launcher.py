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

from rich.console import Console

from cli.terminal import metrics_card, status_card
from shared import (
    DEFAULT_ACCOUNT,
    DEMO_ACCOUNTS,
    DEMO_SAMPLES,
    EXIT_OK,
    Accounts,
    Settings,
    demo_banner,
    demo_request_ids,
    inert,
    load_accounts,
    open_service,
    serve_demo_upstream,
    unknown_request_id,
)

__all__ = ["FrontDoor", "front_doors", "run_product"]

#: where the demo simulator listens (the next free port is used if it is taken)
DEMO_SIMULATOR_PORT = 8765


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
        accounts: Accounts | None = None
        if child_env:
            settings = settings.model_copy(
                update={"lsq_accounts_file": child_env["LSQ_ACCOUNTS_FILE"], "lsq_demo": True}
            )
            accounts = load_accounts(settings, environ=child_env)
        await _show_first_answers(settings, accounts, console)
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
    async with serve_demo_upstream(DEMO_SIMULATOR_PORT) as upstream:
        console.rule("[bold yellow]DEMO[/]")
        console.print(f"[bold yellow]{demo_banner()}[/]")
        console.print(
            f"Simulator of the LeadSquared async API: [bold]{upstream.url}[/], serving the "
            f"demo accounts {', '.join(DEMO_ACCOUNTS)} (each its own key, budget and data)"
        )
        console.rule(style="yellow")
        yield upstream.environment


async def _show_first_answers(
    settings: Settings, accounts: Accounts | None, console: Console
) -> None:
    """The queue of every account; in the demo, a few sample lookups on each account."""
    async with open_service(settings, accounts) as service:
        every = list(service.accounts.by_name.values())
        for health in await service.queue_healths(every):
            if health.metrics is not None and health.reading is not None:
                console.print(metrics_card(health.metrics, health.reading, account=health.account))
            else:
                message = inert(health.message or "no figures")
                console.print(
                    f"LeadSquared check failed ({health.account}): {message}",
                    markup=False,
                    style="red",
                )
        if not settings.demo_mode:
            return
        queries = demo_request_ids(samples=DEMO_SAMPLES)
        for view in await service.look_up([*queries, unknown_request_id()]):
            console.print(status_card(view))
        other = next((account.name for account in every if account.name != DEFAULT_ACCOUNT), None)
        if other is None:
            return
        (elsewhere,) = demo_request_ids(other, samples=("created",))
        for view in await service.look_up([elsewhere], account=other):
            console.print(status_card(view))
        console.print(
            f"Try: [bold].venv/bin/capture-status get {queries[0]}[/] and "
            f"[bold].venv/bin/capture-status get --account {other} {elsewhere}[/] (the same "
            "id on the default account is not found: each account has its own data)"
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
