"""Schema migrations (Alembic): bring a database to this version's schema, or say it is behind.

The migrations live in ``shared/store/migrations`` and run through the store's own engine,
so ``DATABASE_URL`` is the only setting they need. Deployments with PostgreSQL run them as a
one-shot step (``capture-status migrate``: a compose service, a Kubernetes Job) before the
replicas start; a replica never changes a shared schema by itself, it reports that the
schema is behind (``/readyz``) and keeps answering lookups. A SQLite file belongs to one
machine, so the processes using it upgrade it themselves when they open it.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["SchemaState", "head_revision", "schema_state", "upgrade"]

_SCRIPT_LOCATION = "shared.store:migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this version of capture-status needs."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


class SchemaState:
    """Where a database's schema stands against this version's.

    Attributes:
        current: the database's revision (``None``: no schema yet).
        head: the revision this version needs.
    """

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head

    @property
    def up_to_date(self) -> bool:
        """The database has this version's schema."""
        return self.current == self.head

    def describe(self) -> str:
        """What to do, in words, when the schema is not up to date."""
        if self.up_to_date:
            return f"the schema is at revision {self.head}"
        have = (
            "has no capture-status schema yet"
            if self.current is None
            else (f"has schema revision {self.current}")
        )
        return (
            f"the database {have}; this version needs {self.head}: run "
            "`capture-status migrate` once (the compose `migrate` service or the Kubernetes "
            "Job do it)"
        )


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """The revision of ``engine``'s database against this version's."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        current = await connection.run_sync(read)
    return SchemaState(current, head_revision())


async def upgrade(engine: AsyncEngine) -> SchemaState:
    """Run every migration ``engine``'s database lacks; return where it stands now."""

    def run(connection: Connection) -> None:
        command.upgrade(_config(connection), "head")

    async with engine.begin() as connection:
        await connection.run_sync(run)
    return await schema_state(engine)
