"""Watches, their subscribers and per-channel preferences.

Revision ID: 0001_watches
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_watches"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("next_check_at", sa.Float(), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.String(32), nullable=True),
        sa.Column("last_checked_at", sa.Float(), nullable=True),
        sa.Column("error_since", sa.Float(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("final_view", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("lease_token", sa.Integer(), nullable=False),
    )
    op.create_index(
        "uq_watches_active_request",
        "watches",
        ["account", "family", "request_id"],
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index("ix_watches_due", "watches", ["state", "next_check_at"])
    op.create_table(
        "watch_subscribers",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("watch_id", _ID, sa.ForeignKey("watches.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("target_key", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=True),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("lease_token", sa.Integer(), nullable=False),
    )
    op.create_index(
        "uq_watch_subscribers_place",
        "watch_subscribers",
        ["watch_id", "kind", "principal", "target_key"],
        unique=True,
    )
    op.create_index("ix_watch_subscribers_principal", "watch_subscribers", ["principal", "state"])
    op.create_index("ix_watch_subscribers_scope", "watch_subscribers", ["scope", "state"])
    op.create_index(
        "ix_watch_subscribers_due", "watch_subscribers", ["state", "kind", "next_attempt_at"]
    )
    op.create_table(
        "channel_preferences",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("threads", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("channel_preferences")
    op.drop_table("watch_subscribers")
    op.drop_table("watches")
