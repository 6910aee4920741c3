"""Indexes that leave out the rows they never serve: orders nobody referred, visits without
a channel.

Most orders are nobody's referral, yet each was written into both of the referrer's indexes
on ``refkit_conversions`` (``ix_refkit_conversions_referrer`` and the covering
``ix_refkit_conversions_referrer_net``) under a NULL key no query reads: every query on them
names a referrer (``referrer_id = ...``, ``IN (...)``) or asks for referred orders only
(``referrer_id IS NOT NULL``), which lets SQLite and PostgreSQL use a partial index. The same
for ``ix_refkit_visits_channel`` (revision 0012) and the visits that carried no channel. One
index page fewer to write per such row, at every COMMIT.

Downgrading restores the full indexes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (index, table, columns, the column whose NULL rows the index leaves out)
_INDEXES = (
    (
        "ix_refkit_conversions_referrer",
        "refkit_conversions",
        ["referrer_id", "created_at"],
        "referrer_id",
    ),
    (
        "ix_refkit_conversions_referrer_net",
        "refkit_conversions",
        ["referrer_id", "currency", "amount_minor", "refunded_minor"],
        "referrer_id",
    ),
    ("ix_refkit_visits_channel", "refkit_visits", ["channel", "created_at"], "channel"),
)


def upgrade() -> None:
    for name, table, columns, column in _INDEXES:
        where = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, table, columns, _ in _INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
