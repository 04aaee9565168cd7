"""The tables of the durable store: watches, who each one tells, and per-channel preferences.

Times are wall-clock seconds since the epoch (floats), written by the store's injectable
clock, so tests and benchmarks can run hours in seconds. Nothing personal is stored: a
watch keeps the final status only as a masked view (``final_view``), and subscribers keep
Slack ids and MCP resource URIs, never message text.

The schema changes only through the Alembic migrations in ``shared/store/migrations``; a
test checks that the migrations produce exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "ChannelPreference", "SubscriberRow", "WatchRow"]

#: an integer primary key that is 64-bit on PostgreSQL and SQLite's rowid alias on SQLite
_Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """The declarative base of every table of the store."""


class WatchRow(Base):
    """One watched capture request: checked until final, then its subscribers are told.

    ``state`` is ``active`` while it is checked, then one of ``final`` (the status became
    final), ``expired`` (still not final at ``expires_at``), ``failed`` (a check failed in a
    way retrying cannot fix, e.g. the id is unknown) or ``stopped`` (every subscriber left).
    At most one active watch exists per account, family and RequestId.

    The lease (``lease_owner``/``lease_until``) is held by the replica checking it now;
    ``lease_token`` grows with every claim, so a replica whose lease lapsed (it stalled, or
    another took over) cannot write a stale result: its updates name the token it claimed.
    """

    __tablename__ = "watches"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    next_check_at: Mapped[float] = mapped_column(Float)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_checked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: when an ERROR status was first seen (LeadSquared's retry schedule counts from there)
    error_since: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: checks in a row that failed with a temporary error (they back off)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: the last view (masked JSON of a LookupView), kept for notifications and listings
    final_view: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease_token: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index(
            "uq_watches_active_request",
            "account",
            "family",
            "request_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_watches_due", "state", "next_check_at"),
    )


class SubscriberRow(Base):
    """Someone to tell when a watch ends, and where.

    ``kind`` says which front door delivers (``slack``, ``mcp``, ``cli:<instance>``);
    ``principal`` is who asked (``slack:<team>:<user>``, ``mcp:<token>``), ``scope`` the
    group whose limit it counts against (``slack:<team>``), ``target`` where to tell (JSON,
    the front door's own shape) and ``target_key`` that place in short, so the same person
    asking twice from the same place is one subscriber.

    ``state``: ``waiting`` while the watch runs; ``due`` once it ended; ``sending`` while a
    replica delivers it (leased like a watch); then ``sent``, ``failed`` (delivery failed for
    good, e.g. the DM is closed: logged, never retried forever) or ``stopped`` (unwatched).
    """

    __tablename__ = "watch_subscribers"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    watch_id: Mapped[int] = mapped_column(_Id, ForeignKey("watches.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    principal: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(Text)
    target_key: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    created_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease_token: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index(
            "uq_watch_subscribers_place",
            "watch_id",
            "kind",
            "principal",
            "target_key",
            unique=True,
        ),
        Index("ix_watch_subscribers_principal", "principal", "state"),
        Index("ix_watch_subscribers_scope", "scope", "state"),
        Index("ix_watch_subscribers_due", "state", "kind", "next_attempt_at"),
    )


class ChannelPreference(Base):
    """A chat channel's own settings (e.g. Slack: whether watches answer in threads)."""

    __tablename__ = "channel_preferences"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    threads: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[float] = mapped_column(Float)
