"""Covering indexes for the stats queries, so they stay fast at millions of rows.

``stats_for``, ``leaderboard`` and ``summary`` read a referrer's orders, rewards and referrals
through these indexes without visiting the tables: a new index on the conversions' referrer,
currency and amounts, and two existing indexes rebuilt with the columns the queries read
(same names). Indexes only: rows are untouched, and downgrading restores the 0002 indexes.

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (index, table, columns at 0002, columns at 0003) of the indexes this revision rebuilds.
_WIDENED = (
    (
        "ix_refkit_referrals_referrer",
        "refkit_referrals",
        ["referrer_id", "created_at"],
        ["referrer_id", "created_at", "referee_id"],
    ),
    (
        "ix_refkit_rewards_beneficiary",
        "refkit_rewards",
        ["beneficiary_id", "status"],
        ["beneficiary_id", "status", "currency", "value_minor"],
    ),
)


def upgrade() -> None:
    for name, table, _, columns in _WIDENED:
        op.drop_index(op.f(name), table_name=table)
        op.create_index(op.f(name), table, columns)
    op.create_index(
        op.f("ix_refkit_conversions_referrer_net"),
        "refkit_conversions",
        ["referrer_id", "currency", "amount_minor", "refunded_minor"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_refkit_conversions_referrer_net"), table_name="refkit_conversions")
    for name, table, columns, _ in _WIDENED:
        op.drop_index(op.f(name), table_name=table)
        op.create_index(op.f(name), table, columns)
