"""Channels and UTM tags: where a visit, a referral and a purchase came from.

``channel`` (the share channel a link carried: ``"email"``, ``"whatsapp"``, ``"qr"``...)
on visits, referrals and conversions (a conversion copies its referral's, as it does the
campaign); ``utm_source``, ``utm_medium`` and ``utm_campaign`` (the landing's UTM tags) on
visits and referrals. All nullable: rows stored before have none. An index on
(``channel``, ``created_at``) serves the funnel by channel, as the campaign's does.

Downgrading drops the columns (and their data).

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTM = ("utm_source", "utm_medium", "utm_campaign")
_TAGGED = ("refkit_visits", "refkit_referrals")


def upgrade() -> None:
    for table in _TAGGED:
        op.add_column(table, sa.Column("channel", sa.String(length=32), nullable=True))
        for name in _UTM:
            op.add_column(table, sa.Column(name, sa.String(length=100), nullable=True))
    op.add_column("refkit_conversions", sa.Column("channel", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_refkit_visits_channel"), "refkit_visits", ["channel", "created_at"])


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+, PostgreSQL): the columns are in no
    # index (once the channel's is dropped) nor constraint, so no table is rebuilt.
    op.drop_index(op.f("ix_refkit_visits_channel"), table_name="refkit_visits")
    op.execute("ALTER TABLE refkit_conversions DROP COLUMN channel")
    for table in _TAGGED:
        for name in ("channel", *_UTM):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
