"""A real redis-server on a free loopback port, for tests that share state across processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import redis.asyncio as redis

__all__ = ["RedisServer", "running_redis", "wait_until_ready"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process, reachable at :attr:`url` until :meth:`kill`."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def restart(self) -> None:
        """Start Redis again on the same port (empty, as after a crash without persistence)."""
        self.kill()
        self.process = _spawn(self.port)

    def kill(self) -> None:
        """Stop Redis abruptly, as a crash or a network cut would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _spawn(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server") or "redis-server"
    return subprocess.Popen(  # noqa: S603 (a fixed binary with fixed arguments)
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_until_ready(client: redis.Redis) -> None:
    """Return once Redis answers PING (bounded: ten seconds at most)."""
    async with asyncio.timeout(10):
        while True:
            try:
                pong: Any = await client.ping()  # pyright: ignore[reportUnknownMemberType]
                if pong:
                    return
            except (OSError, redis.ConnectionError):
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_redis() -> AsyncGenerator[RedisServer]:
    """Start redis-server (skipping the test only when the binary is absent) and stop it."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = (
            "redis-server is not installed (.ci/run installs it; apt-get install redis-server)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the multi-process proof, never skip it
        pytest.skip(message)
    port = _free_port()
    server = RedisServer(_spawn(port), port)
    client: redis.Redis = redis.Redis.from_url(server.url)  # pyright: ignore[reportUnknownMemberType]
    try:
        await wait_until_ready(client)
        yield server
    finally:
        await client.aclose()
        server.kill()
