"""Opening the store's database: which driver a ``DATABASE_URL`` means, and its set-up.

``sqlite:///capture-status.db`` (the default, a file under the working directory) runs on
aiosqlite; ``postgresql://…`` (or ``postgres://…``) runs on asyncpg. Either may name its
async driver itself (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``); any other URL is
a configuration error, reported at start in one message.

SQLite serves one process (or a few on one machine): every transaction starts with
``BEGIN IMMEDIATE`` so two writers queue for the lock instead of failing half-way, and
the journal is WAL so readers never wait. PostgreSQL serves replicas.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.errors import ConfigurationError

__all__ = ["async_database_url", "create_store_engine", "describe_database"]

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}

#: seconds a SQLite writer waits for another's lock before failing
_SQLITE_BUSY_SECONDS = 30.0
#: PostgreSQL: connecting, one statement, waiting for a row lock, waiting for the pool
_CONNECT_SECONDS = 5.0
_STATEMENT_SECONDS = 10.0
_LOCK_SECONDS = 5.0
_POOL_WAIT_SECONDS = 5.0


def async_database_url(url: str) -> URL:
    """The SQLAlchemy URL, with its async driver, that ``DATABASE_URL`` means.

    Raises:
        ConfigurationError: not a URL, or a database capture-status does not support.
    """
    try:
        parsed = make_url(url.strip())
        parsed.port  # noqa: B018 (a port that is not a number fails here, not later)
    except (ArgumentError, ValueError):
        raise ConfigurationError(
            "DATABASE_URL is not a database URL. Use sqlite:///capture-status.db (one "
            "process) or postgresql://user:password@host:5432/dbname (replicas)."
        ) from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigurationError(
            f"DATABASE_URL names a {parsed.drivername!r} database; capture-status keeps its "
            "watches in SQLite (sqlite:///capture-status.db) or PostgreSQL "
            "(postgresql://user:password@host:5432/dbname)."
        )
    if driver.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise ConfigurationError(
            "DATABASE_URL names an in-memory SQLite database, which every connection sees "
            "empty; name a file instead: sqlite:///capture-status.db."
        )
    return parsed.set(drivername=driver)


def describe_database(url: URL) -> str:
    """The database in words, without its password (for logs and messages)."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    return f"PostgreSQL database {url.database or '(default)'} at {where}"


def create_store_engine(url: URL, **options: Any) -> AsyncEngine:
    """An async engine for ``url`` (see :func:`async_database_url`), set up for the store."""
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": _SQLITE_BUSY_SECONDS}, **options)
        _begin_immediately(engine)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=_POOL_WAIT_SECONDS,
        # a database that hangs is "cannot watch right now" in seconds, not after minutes
        connect_args={
            "timeout": _CONNECT_SECONDS,
            "command_timeout": _STATEMENT_SECONDS,
            "server_settings": {
                "statement_timeout": str(int(_STATEMENT_SECONDS * 1000)),
                "lock_timeout": str(int(_LOCK_SECONDS * 1000)),
            },
        },
        **options,
    )


def _begin_immediately(engine: AsyncEngine) -> None:
    """SQLite: WAL, foreign keys, and ``BEGIN IMMEDIATE`` for every transaction."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        dbapi_connection.isolation_level = None  # the driver begins nothing by itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        connection.exec_driver_sql("BEGIN IMMEDIATE")
