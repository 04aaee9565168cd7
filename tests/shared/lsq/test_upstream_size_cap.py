"""An answer far larger than any status is never read whole: a typed error, bounded memory.

The fake upstream is a raw socket server on loopback (no HTTP library on its side), so the
body can be framed in every way a wrong host or a hostile proxy might frame it: announced
by Content-Length, delimited by closing the connection, chunked, or with a Content-Length
that understates it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import tracemalloc
import zlib
from collections.abc import Generator
from contextlib import contextmanager
from enum import StrEnum
from typing import Self

import pytest
from pydantic import SecretStr

from shared.errors import CaptureStatusError, MalformedResponseError, ResponseTooLargeError
from shared.explain.engine import explain_error
from shared.lsq.client import CaptureStatusClient
from shared.lsq.upstream import MAX_RESPONSE_BYTES
from shared.simulator import SAMPLES
from tests.conftest import fast_options

REQUEST_ID = SAMPLES["created"].request_id
#: what the fake sends: 32 times the cap for in-process lookups, 200 MB for the CLI
BODY_BYTES = 32 * MAX_RESPONSE_BYTES
CLI_BODY_BYTES = 200 * 1024 * 1024
_CHUNK = b" " * (1024 * 1024)  # JSON whitespace: the body would even parse if read whole
#: loopback socket buffers (both ends) can hold a few MB the client never reads
_BUFFERS = 16 * 1024 * 1024


class Framing(StrEnum):
    ANNOUNCED = "announced"  # Content-Length says how big it is
    UNANNOUNCED = "unannounced"  # no Content-Length: the body ends when the connection closes
    CHUNKED = "chunked"  # Transfer-Encoding: chunked, no length anywhere
    UNDERSTATED = "understated"  # Content-Length claims 1 KB, the server sends it all anyway


class BigAnswerUpstream:
    """Answers every request with ``body_bytes`` of body framed by ``framing``; counts bytes.

    Attributes:
        url: the base URL to give the client.
        sent: body bytes the kernel accepted from the server before the client hung up.
    """

    def __init__(self, framing: Framing, body_bytes: int) -> None:
        self.framing = framing
        self.body_bytes = body_bytes
        self.sent = 0
        self.requests = 0
        self.finished = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() the thread waits in
        self._listener.close()
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)
            self.finished.set()

    def _request_read(self, conn: socket.socket) -> bool:
        """Read one request's head; False when the client hung up first."""
        received = b""
        while b"\r\n\r\n" not in received:
            data = conn.recv(65536)
            if not data:
                return False
            received += data
        self.requests += 1
        return True

    def _answer(self, conn: socket.socket) -> None:
        if not self._request_read(conn):
            return
        head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        if self.framing is Framing.ANNOUNCED:
            head += f"content-length: {self.body_bytes + 2}\r\n"
        elif self.framing is Framing.UNDERSTATED:
            head += "content-length: 1024\r\n"
        elif self.framing is Framing.CHUNKED:
            head += "transfer-encoding: chunked\r\n"
        else:
            head += "connection: close\r\n"
        try:
            conn.sendall((head + "\r\n").encode())
            while self.sent < self.body_bytes:
                piece = _CHUNK[: self.body_bytes - self.sent]
                if self.framing is Framing.CHUNKED:
                    conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                else:
                    conn.sendall(piece)
                self.sent += len(piece)
            tail = b"{}"
            if self.framing is Framing.CHUNKED:
                tail = b"2\r\n{}\r\n0\r\n\r\n"
            conn.sendall(tail)
        except OSError:
            return  # the client hung up: what it had not read is not counted


def _gzip_bomb(size: int) -> bytes:
    """``size`` bytes of JSON whitespace, gzip-compressed (about a thousandth of the size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(_CHUNK) for _ in range(size // len(_CHUNK))]
    return b"".join([*parts, packer.compress(b"{}"), packer.flush()])


class GzipBombUpstream(BigAnswerUpstream):
    """Answers with a small gzip body that inflates to ``body_bytes`` (sent uninvited)."""

    def __init__(self, body_bytes: int) -> None:
        super().__init__(Framing.ANNOUNCED, body_bytes)
        self.bomb = _gzip_bomb(body_bytes)

    def _answer(self, conn: socket.socket) -> None:
        if not self._request_read(conn):
            return
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
            f"content-length: {len(self.bomb)}\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            conn.sendall(head.encode() + self.bomb)
            self.sent = len(self.bomb)


@contextmanager
def _traced() -> Generator[list[int]]:
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


async def _look_up(upstream: BigAnswerUpstream) -> tuple[CaptureStatusError, int]:
    client = CaptureStatusClient(fast_options(upstream.url, retry_attempts=1), SecretStr("k"))
    async with client:
        with _traced() as peak, pytest.raises(CaptureStatusError) as caught:
            await client.get_status(REQUEST_ID)
    assert upstream.finished.wait(timeout=10), "the fake upstream never saw the client hang up"
    return caught.value, peak[0]


@pytest.mark.parametrize("framing", [Framing.ANNOUNCED, Framing.UNANNOUNCED, Framing.CHUNKED])
async def test_an_oversized_answer_is_refused_at_the_cap_with_a_typed_error(
    framing: Framing,
) -> None:
    with BigAnswerUpstream(framing, BODY_BYTES) as upstream:
        error, peak = await _look_up(upstream)
    assert isinstance(error, ResponseTooLargeError), repr(error)
    assert not error.retryable
    assert upstream.requests == 1  # not retried: the same host answers the same way
    assert "LSQ_ASYNC_BASE_URL" in error.message
    assert error.request_id == REQUEST_ID
    # the client stopped reading at the cap: memory and bytes taken stay near it
    assert peak < 4 * MAX_RESPONSE_BYTES, peak
    assert upstream.sent < MAX_RESPONSE_BYTES + _BUFFERS, upstream.sent


async def test_a_compressed_answer_is_inflated_only_up_to_the_cap() -> None:
    # 64 MB of JSON whitespace in ~64 KB of gzip, sent although the client asks for none:
    # before, httpx inflated each network read whole (175 MB peak for a 400 MB bomb)
    with GzipBombUpstream(32 * MAX_RESPONSE_BYTES) as upstream:
        assert len(upstream.bomb) < MAX_RESPONSE_BYTES // 8
        error, peak = await _look_up(upstream)
    assert isinstance(error, ResponseTooLargeError), repr(error)
    assert peak < 4 * MAX_RESPONSE_BYTES, peak


async def test_a_length_announced_over_the_cap_is_refused_before_reading_the_body() -> None:
    with BigAnswerUpstream(Framing.ANNOUNCED, BODY_BYTES) as upstream:
        error, peak = await _look_up(upstream)
    assert isinstance(error, ResponseTooLargeError)
    assert peak < MAX_RESPONSE_BYTES, peak  # not even the cap's worth was read


async def test_an_understated_length_reads_only_what_it_claims() -> None:
    with BigAnswerUpstream(Framing.UNDERSTATED, BODY_BYTES) as upstream:
        error, peak = await _look_up(upstream)
    assert isinstance(error, MalformedResponseError), repr(error)  # 1 KB of spaces is no JSON
    assert peak < 4 * MAX_RESPONSE_BYTES, peak
    assert upstream.sent < MAX_RESPONSE_BYTES + _BUFFERS, upstream.sent


def test_the_explanation_sends_an_admin_to_the_base_url_and_is_final() -> None:
    e = explain_error(ResponseTooLargeError("too big", request_id=REQUEST_ID, http_status=200))
    assert e.headline == "LeadSquared's answer was too large to read"
    assert e.is_final
    assert "LSQ_ASYNC_BASE_URL" in e.next_steps[0]
    assert e.next_steps[-1] == f"When reporting it, quote RequestId {REQUEST_ID}."


_MEASURED_CLI = (
    "import atexit, resource, runpy, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "f'maxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
    "sys.argv = ['capture-status', *sys.argv[1:]]\n"
    "runpy.run_module('cli.main', run_name='__main__')\n"
)


def _cli_max_rss_mb(
    *args: str, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "SLACK_", "MCP_"))}
    result = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-c", _MEASURED_CLI, *args],
        capture_output=True,
        text=True,
        env={**clean, **env, "COLUMNS": "120"},
        cwd=tempfile.gettempdir(),  # no .env there
        timeout=120,
        check=False,
    )
    rss = [line for line in result.stderr.splitlines() if line.startswith("maxrss_kb=")]
    assert rss, result.stderr
    return result, int(rss[-1].removeprefix("maxrss_kb=")) / 1024


@pytest.mark.parametrize("framing", [Framing.ANNOUNCED, Framing.UNANNOUNCED])
def test_the_cli_ends_a_200_mb_answer_with_the_typed_message_and_bounded_memory(
    framing: Framing,
) -> None:
    # what the same process needs for an ordinary (demo) lookup: the yardstick for "bounded"
    demo, demo_rss = _cli_max_rss_mb("get", REQUEST_ID, env={})
    assert demo.returncode == 0, demo.stderr
    with BigAnswerUpstream(framing, CLI_BODY_BYTES) as upstream:
        env = {"LSQ_API_KEY": "k", "LSQ_ASYNC_BASE_URL": upstream.url, "LSQ_RETRY_ATTEMPTS": "1"}
        result, rss = _cli_max_rss_mb("get", REQUEST_ID, env=env)
    assert result.returncode == 1, result.stderr
    assert "LeadSquared's answer was too large to read" in result.stdout
    assert "LSQ_ASYNC_BASE_URL" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert rss < demo_rss + 32, (rss, demo_rss)
    assert upstream.sent < MAX_RESPONSE_BYTES + _BUFFERS, upstream.sent
