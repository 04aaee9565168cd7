"""The budget holds where LeadSquared counts: at arrival, even when connecting is slow.

The fake upstream is a raw socket server on loopback with a full listen backlog: the
kernel drops the client's SYNs, so each connect waits for the SYN to be sent again (one
second later), long after the budget granted the call its slot. Arrivals are stamped by the
server as each request's headers come in and counted per window. The window is scaled down
from 25 per 5 s to 8 per 1 s to keep the test short.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.guard.redis_link import RedisLink
from shared.lsq.client import CaptureStatusClient
from tests.conftest import fast_options
from tests.redis_server import running_redis

BUDGET = 8
WINDOW_SECONDS = 1
GUARD_SECONDS = 0.2
LOOKUPS = 3 * BUDGET
_PROC_TCP = Path("/proc/net/tcp")
_SYN_SENT = "02"

pytestmark = pytest.mark.skipif(
    not _PROC_TCP.exists(), reason="needs Linux (/proc/net/tcp shows connects in progress)"
)


class SlowAcceptUpstream:
    """A loopback upstream whose accept queue is full until :meth:`start_accepting`.

    The listen backlog holds exactly ``BUDGET`` connections, and as many idle connections
    fill it at once: every connect of the client waits for a SYN retransmission.

    Attributes:
        arrivals: ``time.monotonic()`` of each request, when its headers had arrived.
    """

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(BUDGET - 1)  # Linux queues backlog + 1 connections
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._fillers = [
            socket.create_connection(("127.0.0.1", self.port), timeout=5) for _ in range(BUDGET)
        ]
        self._accepting = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def start_accepting(self) -> None:
        self._accepting.set()

    def close(self) -> None:
        self._accepting.set()
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() the thread waits in
        self._listener.close()
        self._thread.join(timeout=10)
        for filler in self._fillers:
            filler.close()

    def connects_in_progress(self) -> int:
        """Connections to this upstream still waiting for a SYN to be answered."""
        port = f"0100007F:{self.port:04X}"
        rows = [line.split() for line in _PROC_TCP.read_text().splitlines()[1:]]
        return sum(1 for row in rows if row[2] == port and row[3] == _SYN_SENT)

    def _accept_loop(self) -> None:
        self._accepting.wait(timeout=30)
        for _ in self._fillers:  # first in the queue: close them, making room
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.close()
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        pending = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in pending:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    pending += data
                head, _, pending = pending.partition(b"\r\n\r\n")
                with self._lock:
                    self.arrivals.append(time.monotonic())
                request_id = head.split(b" ", 2)[1].decode().rpartition("RequestID=")[2]
                body = json.dumps(
                    {"RequestId": request_id, "TaskStatus": {"Status": "In-Queue"}}
                ).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )


def _most_in_any_window(arrivals: list[float]) -> int:
    ordered = sorted(arrivals)
    return max(
        sum(1 for later in ordered if first <= later < first + WINDOW_SECONDS) for first in ordered
    )


@asynccontextmanager
async def _link(shared: bool) -> AsyncGenerator[RedisLink | None]:
    if not shared:
        yield None
        return
    async with running_redis() as server:
        link = RedisLink(server.url)
        try:
            yield link
        finally:
            await link.aclose()


@pytest.mark.parametrize("shared", [False, True], ids=["in-memory", "redis"])
async def test_calls_whose_connect_is_slow_still_arrive_within_the_budget(shared: bool) -> None:
    upstream = SlowAcceptUpstream()
    ids = [f"c1d867a7-a325-4b68-954f-{n:012d}" for n in range(LOOKUPS)]
    try:
        async with _link(shared) as link:
            client = CaptureStatusClient(
                fast_options(
                    upstream.url,
                    budget_calls=BUDGET,
                    budget_seconds=WINDOW_SECONDS,
                    budget_guard_seconds=GUARD_SECONDS,
                    max_concurrency=BUDGET,
                    max_ids_per_call=LOOKUPS,
                    deadline_seconds=30,
                ),
                SecretStr("k"),
                link=link,
            )
            async with client, asyncio.timeout(60):
                started = time.monotonic()
                lookups = asyncio.create_task(client.get_statuses(ids))
                # every slot of the first window is granted and its connect is waiting
                while upstream.connects_in_progress() < BUDGET:
                    assert not lookups.done(), lookups.result()
                    assert time.monotonic() - started < 10, "the client never tried to connect"
                    await asyncio.sleep(0.01)
                upstream.start_accepting()
                results = await lookups
    finally:
        upstream.close()
    assert all(r.ok for r in results), [r.error for r in results if r.error][:3]
    assert len(upstream.arrivals) == LOOKUPS
    # the scenario happened: nothing reached the upstream before a SYN was sent again
    assert min(upstream.arrivals) - started > GUARD_SECONDS
    assert _most_in_any_window(upstream.arrivals) <= BUDGET, sorted(
        round(t - started, 2) for t in upstream.arrivals
    )
    assert client.budget.late_sends >= BUDGET
