"""The durable store (SQLAlchemy 2, async): watches and what must outlive a process.

``DATABASE_URL`` picks the database: a SQLite file by default (``make run`` needs nothing),
PostgreSQL when replicas share it. Schema changes are Alembic migrations
(:mod:`shared.store.migrate`). The watcher and the watch use cases of
:class:`~shared.service.capture_service.CaptureService` are its only users.
"""

from __future__ import annotations

from shared.store.engine import async_database_url, create_store_engine, describe_database
from shared.store.migrate import SchemaState, head_revision, schema_state, upgrade
from shared.store.records import (
    Claim,
    Delivery,
    DeliveryOutcome,
    NewSubscriber,
    SubscriberRecord,
    WatchAdded,
    WatchCounts,
    WatchEnd,
    WatchKey,
    WatchLimits,
    WatchRecord,
)
from shared.store.watches import WatchStore

__all__ = [
    "Claim",
    "Delivery",
    "DeliveryOutcome",
    "NewSubscriber",
    "SchemaState",
    "SubscriberRecord",
    "WatchAdded",
    "WatchCounts",
    "WatchEnd",
    "WatchKey",
    "WatchLimits",
    "WatchRecord",
    "WatchStore",
    "async_database_url",
    "create_store_engine",
    "describe_database",
    "head_revision",
    "schema_state",
    "upgrade",
]
