"""Real databases for the store's tests: a SQLite file, and a PostgreSQL database of their own.

PostgreSQL comes from, in order: ``TEST_POSTGRES_ADMIN_URL``; the server on 127.0.0.1:5432
(user ``postgres``, as on the development machines and CI); or a private server this test
run starts with ``initdb``/``pg_ctl`` on a free port (a laptop with PostgreSQL installed but
not running). Each test gets a database created for it and dropped after. Under CI a missing
PostgreSQL fails the tests instead of skipping them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncGenerator, Generator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from shared.store import WatchStore, async_database_url, create_store_engine, upgrade

__all__ = ["BACKENDS", "open_test_store", "postgres_admin_url", "test_database_url"]

#: the store's tests run on both
BACKENDS = ("sqlite", "postgresql")

_DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _answers(url: str) -> bool:
    engine = create_async_engine(async_database_url(url), connect_args={"timeout": 3})
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (OSError, SQLAlchemyError, TimeoutError):
        return False
    finally:
        await engine.dispose()
    return True


def _reachable(url: str) -> bool:
    """:func:`_answers`, from sync code whether or not an event loop runs in this thread
    (the fixture is first asked for by an async fixture, inside the test's loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _answers(url)).result()


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextlib.contextmanager
def _private_server() -> Generator[str | None]:
    """A throw-away PostgreSQL server on a free port (``None`` when none can be started)."""
    initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
    if initdb is None or pg_ctl is None:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="capture-status-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: hand the folder to nobody
        shutil.rmtree(root)
        yield None
        return
    data, port = root / "data", _free_port()
    try:
        subprocess.run(  # noqa: S603 (fixed binaries, fixed arguments)
            [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        subprocess.run(  # noqa: S603
            [
                pg_ctl,
                "-D",
                str(data),
                "-w",
                "-l",
                str(root / "log"),
                "-o",
                f"-p {port} -k {root} -h 127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(root, ignore_errors=True)
        yield None
        return
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(stop, capture_output=True, check=False)  # noqa: S603
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Generator[str]:
    """A PostgreSQL server's admin URL for this test run (see the module doc)."""
    explicit = os.environ.get("TEST_POSTGRES_ADMIN_URL")
    candidates = [explicit] if explicit else [_DEFAULT_ADMIN]
    for url in candidates:
        if _reachable(url):
            yield url
            return
    with _private_server() as private:
        if private is not None:
            yield private
            return
    message = (
        "PostgreSQL is not reachable on 127.0.0.1:5432 and none could be started "
        "(.ci/run installs and starts one; or set TEST_POSTGRES_ADMIN_URL)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.asynccontextmanager
async def test_database_url(
    backend: str, admin_url: str | None, folder: Path
) -> AsyncGenerator[str]:
    """A fresh, empty database of ``backend`` for one test; dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'watches.db'}"
        return
    assert admin_url is not None
    name = f"capture_status_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(async_database_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@contextlib.asynccontextmanager
async def open_test_store(url: str, **options: object) -> AsyncGenerator[WatchStore]:
    """A migrated store on ``url``, closed afterwards."""
    store = WatchStore(create_store_engine(async_database_url(url)), **options)  # pyright: ignore[reportArgumentType]
    try:
        await upgrade(store.engine)
        yield store
    finally:
        await store.aclose()
