"""Clients that open connections and never finish a request's headers (a slowloris flood)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from urllib.parse import urlsplit

#: a request line and one header, with the blank line that would end the headers never sent
PARTIAL_HEADERS = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@dataclass
class IdleConnection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def closed_by_server(self, within: float) -> bool:
        """Whether the server closes this connection within ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                await self.reader.read()  # until EOF (a refusal's bytes may come first)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True


@contextlib.asynccontextmanager
async def idle_connections(
    base_url: str, count: int, *, sent: bytes = PARTIAL_HEADERS
) -> AsyncGenerator[list[IdleConnection]]:
    """``count`` connections to ``base_url``, each sending ``sent`` and then nothing."""
    parts = urlsplit(base_url)
    assert parts.hostname == "127.0.0.1"
    assert parts.port is not None
    opened: list[IdleConnection] = []
    try:
        for _ in range(count):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            if sent:
                with contextlib.suppress(ConnectionError):  # closed already: room for others
                    writer.write(sent)
                    await writer.drain()
            opened.append(IdleConnection(reader, writer))
        yield opened
    finally:
        for connection in opened:
            connection.writer.close()
        for connection in opened:
            with contextlib.suppress(ConnectionError):
                await connection.writer.wait_closed()
