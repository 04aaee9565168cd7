"""Running the simulator on a real socket with uvicorn (loopback, any free port).

Tests that need real transport behaviour (connection resets, timeouts, keep-alive) and the
demo use these helpers; in-process tests use ``httpx.ASGITransport`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncGenerator, Generator
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from shared.infra.sockets import bind_socket
from shared.simulator.app import create_app
from shared.simulator.faults import SimulatedConnectionReset

__all__ = ["RunningSimulator", "SimulatorThread", "serve_simulator", "start_simulator_server"]

_POLL_SECONDS = 0.01
_UVICORN_ERROR_LOGGER = "uvicorn.error"


class _DropSimulatedResets(logging.Filter):
    """Keeps uvicorn from logging a traceback for every connection reset a test asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedConnectionReset)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, handle_signals: bool) -> None:
        super().__init__(config)
        self._handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # a server started inside a test or a larger program must not take over Ctrl-C
        if self._handle_signals:
            with super().capture_signals():
                yield
        else:
            yield


class RunningSimulator:
    """A uvicorn server serving the simulator inside the current event loop.

    Attributes:
        url: the base URL, e.g. ``http://127.0.0.1:54321``.
    """

    def __init__(
        self, url: str, server: uvicorn.Server, task: asyncio.Task[None], log_filter: logging.Filter
    ) -> None:
        self.url = url
        self._server = server
        self._task = task
        self._log_filter = log_filter

    def request_stop(self) -> None:
        """Ask the server to stop; it does at its next tick (call from its loop's thread)."""
        self._server.should_exit = True

    async def wait(self) -> None:
        """Wait until the server stops (after :meth:`stop`, or a signal it handles)."""
        try:
            await asyncio.shield(self._task)
        finally:
            if self._task.done():
                self._remove_log_filter()

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Ask the server to stop and wait for it, forcing it after ``grace_seconds``."""
        self.request_stop()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
        except TimeoutError:
            self._server.force_exit = True
            await self._task
        finally:
            self._remove_log_filter()

    def _remove_log_filter(self) -> None:
        logging.getLogger(_UVICORN_ERROR_LOGGER).removeFilter(self._log_filter)

    def __repr__(self) -> str:
        return f"RunningSimulator(url={self.url!r})"


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:
        # never let uvicorn's sys.exit() end the event loop the simulator shares
        raise RuntimeError(f"uvicorn exited with status {exc.code}") from None


async def start_simulator_server(
    app: ASGIApp | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    handle_signals: bool = False,
) -> RunningSimulator:
    """Start uvicorn serving ``app`` (a default simulator when ``None``) as a task.

    Port 0 picks a free port; the returned URL names the port actually bound. Startup is
    awaited by polling ``server.started`` within ``startup_timeout``, never a fixed sleep.

    Raises:
        OSError: the address cannot be bound (e.g. the port is taken).
        RuntimeError: the server stopped during startup.
        TimeoutError: the server did not start within ``startup_timeout`` seconds.
    """
    # bind here rather than in uvicorn: uvicorn answers a bind failure with sys.exit(),
    # which would escape the task and stop the caller's whole event loop
    sock = bind_socket(host, port)
    config = uvicorn.Config(
        app if app is not None else create_app(),
        http="h11",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config, handle_signals=handle_signals)
    log_filter = _DropSimulatedResets()
    logging.getLogger(_UVICORN_ERROR_LOGGER).addFilter(log_filter)
    task = asyncio.create_task(_serve(server, sock), name="simulator-uvicorn")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + startup_timeout
    try:
        while not server.started:
            if task.done():
                cause = task.exception() if not task.cancelled() else None
                raise RuntimeError(
                    f"the simulator server stopped while starting on {host}:{port}"
                ) from cause
            if loop.time() >= deadline:
                raise TimeoutError(f"the simulator server did not start within {startup_timeout} s")
            await asyncio.sleep(_POLL_SECONDS)
    except BaseException:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(BaseException):
            await task
        sock.close()
        logging.getLogger(_UVICORN_ERROR_LOGGER).removeFilter(log_filter)
        raise
    bound_port: int = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    return RunningSimulator(f"http://{url_host}:{bound_port}", server, task, log_filter)


@contextlib.asynccontextmanager
async def serve_simulator(
    app: ASGIApp | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
) -> AsyncGenerator[str]:
    """Serve ``app`` (a default simulator when ``None``) with uvicorn for the ``async with``.

    Yields the base URL, e.g. ``"http://127.0.0.1:54321"``; the server is shut down on exit.

    Raises:
        OSError: the address cannot be bound (e.g. the port is taken).
        RuntimeError: the server stopped during startup.
        TimeoutError: the server did not start within ``startup_timeout`` seconds.
    """
    running = await start_simulator_server(
        app, host=host, port=port, startup_timeout=startup_timeout
    )
    try:
        yield running.url
    finally:
        await running.stop()


class SimulatorThread:
    """The simulator served by uvicorn on its own event loop in a background thread.

    For synchronous code (a CLI demo, sync tests)::

        with SimulatorThread(app) as url:
            ...
    """

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
    ) -> None:
        self._app = app if app is not None else create_app()
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: RunningSimulator | None = None
        self._error: BaseException | None = None
        self.url: str | None = None

    def start(self) -> str:
        """Start the server and return its base URL.

        Raises:
            RuntimeError: the server failed to start, or was already started.
            TimeoutError: the server did not start within the startup timeout.
        """
        if self._thread is not None:
            raise RuntimeError("this SimulatorThread was already started")
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._startup_timeout + 1.0):
            raise TimeoutError("the simulator thread did not start in time")
        if self._error is not None:
            raise RuntimeError("the simulator server failed to start") from self._error
        assert self.url is not None
        return self.url

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(), which re-raises in its thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._running = await start_simulator_server(
            self._app, host=self._host, port=self._port, startup_timeout=self._startup_timeout
        )
        self._loop = asyncio.get_running_loop()
        self.url = self._running.url
        self._ready.set()
        await self._running.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and join the thread (waiting at most ``timeout`` seconds)."""
        loop, running, thread = self._loop, self._running, self._thread
        if loop is not None and running is not None and not loop.is_closed():
            # uvicorn polls should_exit in its own loop: set it from that loop's thread
            loop.call_soon_threadsafe(running.request_stop)
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimulatorThread(url={self.url!r})"
