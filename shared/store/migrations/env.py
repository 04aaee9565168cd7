"""Alembic's entry: runs the migrations on the connection ``shared.store.migrate`` passes."""

from __future__ import annotations

from alembic import context

from shared.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `capture-status migrate`, which passes the connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
