"""Initial schema: referrers, visits, referrals, conversions, rewards, ledger, counters.

A frozen snapshot of ``refkit.storage.schema`` as of revision 0001: it must not import the
live metadata, so later schema changes go in new revisions. Every constraint name is final
(``op.f``), so the naming convention of whatever metadata is in effect cannot rename them.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MAX_MINOR = 10**16


def _id() -> sa.String:
    return sa.String(length=255)


def _money_check(table: str, column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"{column} >= 0 AND {column} <= {_MAX_MINOR}", name=op.f(f"ck_{table}_{column}_range")
    )


def upgrade() -> None:
    op.create_table(
        "refkit_referrers",
        sa.Column("user_id", _id(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "number >= 0 AND number < 8388608", name=op.f("ck_refkit_referrers_number_range")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_refkit_referrers")),
        sa.UniqueConstraint("number", name=op.f("uq_refkit_referrers_number")),
    )

    op.create_table(
        "refkit_visits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("referrer_id", _id(), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("visitor", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["refkit_referrers.user_id"],
            name=op.f("fk_refkit_visits_referrer_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refkit_visits")),
    )
    op.create_index(
        op.f("ix_refkit_visits_referrer"), "refkit_visits", ["referrer_id", "created_at"]
    )
    op.create_index(op.f("ix_refkit_visits_created"), "refkit_visits", ["created_at"])
    op.create_index(op.f("ix_refkit_visits_campaign"), "refkit_visits", ["campaign", "created_at"])

    op.create_table(
        "refkit_referrals",
        sa.Column("referee_id", _id(), nullable=False),
        sa.Column("referrer_id", _id(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("pair_low", _id(), nullable=False),
        sa.Column("pair_high", _id(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("referee_id <> referrer_id", name=op.f("ck_refkit_referrals_not_self")),
        sa.CheckConstraint(
            "source IN ('link', 'code', 'staff')", name=op.f("ck_refkit_referrals_source")
        ),
        sa.CheckConstraint(
            "(pair_low = referee_id AND pair_high = referrer_id) OR "
            "(pair_low = referrer_id AND pair_high = referee_id)",
            name=op.f("ck_refkit_referrals_pair"),
        ),
        sa.PrimaryKeyConstraint("referee_id", name=op.f("pk_refkit_referrals")),
        sa.UniqueConstraint("pair_low", "pair_high", name=op.f("uq_refkit_referrals_pair")),
        sa.UniqueConstraint("referee_id", "referrer_id", name=op.f("uq_refkit_referrals_binding")),
        sa.ForeignKeyConstraint(
            ["referrer_id"],
            ["refkit_referrers.user_id"],
            name=op.f("fk_refkit_referrals_referrer_id"),
        ),
    )
    op.create_index(
        op.f("ix_refkit_referrals_referrer"), "refkit_referrals", ["referrer_id", "created_at"]
    )
    op.create_index(op.f("ix_refkit_referrals_created"), "refkit_referrals", ["created_at"])

    op.create_table(
        "refkit_conversions",
        sa.Column("order_id", _id(), nullable=False),
        sa.Column("customer_id", _id(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("referrer_id", _id(), nullable=True),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("reasons", sa.String(length=255), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _money_check("refkit_conversions", "amount_minor"),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor",
            name=op.f("ck_refkit_conversions_refund"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_refkit_conversions_currency")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_refkit_conversions")),
    )
    op.create_index(
        op.f("ix_refkit_conversions_referrer"),
        "refkit_conversions",
        ["referrer_id", "created_at"],
    )
    op.create_index(
        op.f("ix_refkit_conversions_customer"),
        "refkit_conversions",
        ["customer_id", "created_at"],
    )
    op.create_index(op.f("ix_refkit_conversions_created"), "refkit_conversions", ["created_at"])

    op.create_table(
        "refkit_rewards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", _id(), nullable=False),
        sa.Column("referee_id", _id(), nullable=False),
        sa.Column("referrer_id", _id(), nullable=False),
        sa.Column("beneficiary_id", _id(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("original_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referee_id", "referrer_id"],
            ["refkit_referrals.referee_id", "refkit_referrals.referrer_id"],
            name=op.f("fk_refkit_rewards_referral"),
        ),
        sa.UniqueConstraint("referee_id", "role", name=op.f("uq_refkit_rewards_one_per_role")),
        sa.CheckConstraint(
            "(role = 'referrer' AND beneficiary_id = referrer_id) OR "
            "(role = 'referee' AND beneficiary_id = referee_id)",
            name=op.f("ck_refkit_rewards_one_level"),
        ),
        sa.CheckConstraint(
            "kind IN ('percent', 'fixed', 'points')", name=op.f("ck_refkit_rewards_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'revoked', 'reversed')",
            name=op.f("ck_refkit_rewards_status"),
        ),
        sa.CheckConstraint(
            "(kind = 'points') = (currency IS NULL)",
            name=op.f("ck_refkit_rewards_points_have_no_currency"),
        ),
        _money_check("refkit_rewards", "value_minor"),
        _money_check("refkit_rewards", "original_minor"),
        sa.CheckConstraint(
            "value_minor <= original_minor",
            name=op.f("ck_refkit_rewards_value_not_above_original"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["refkit_conversions.order_id"],
            name=op.f("fk_refkit_rewards_order_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refkit_rewards")),
    )
    op.create_index(
        op.f("ix_refkit_rewards_beneficiary"), "refkit_rewards", ["beneficiary_id", "status"]
    )
    op.create_index(op.f("ix_refkit_rewards_due"), "refkit_rewards", ["status", "due_at"])
    op.create_index(op.f("ix_refkit_rewards_order"), "refkit_rewards", ["order_id"])
    op.create_index(op.f("ix_refkit_rewards_created"), "refkit_rewards", ["created_at"])

    op.create_table(
        "refkit_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=False),
        sa.Column("beneficiary_id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("once_key", sa.String(length=8), nullable=True),
        sa.Column("pending_minor", sa.BigInteger(), nullable=False),
        sa.Column("approved_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('accrued', 'approved', 'revoked', 'reversed', 'adjusted')",
            name=op.f("ck_refkit_ledger_kind"),
        ),
        sa.CheckConstraint(
            "(kind = 'adjusted' AND once_key IS NULL) OR (kind <> 'adjusted' AND once_key = kind)",
            name=op.f("ck_refkit_ledger_once_key"),
        ),
        sa.CheckConstraint(
            f"pending_minor >= -{_MAX_MINOR} AND pending_minor <= {_MAX_MINOR} AND "
            f"approved_minor >= -{_MAX_MINOR} AND approved_minor <= {_MAX_MINOR}",
            name=op.f("ck_refkit_ledger_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refkit_ledger")),
        sa.UniqueConstraint("reward_id", "once_key", name=op.f("uq_refkit_ledger_once")),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["refkit_rewards.id"], name=op.f("fk_refkit_ledger_reward_id")
        ),
    )
    op.create_index(
        op.f("ix_refkit_ledger_beneficiary"), "refkit_ledger", ["beneficiary_id", "created_at"]
    )
    op.create_index(op.f("ix_refkit_ledger_created"), "refkit_ledger", ["created_at"])

    op.create_table(
        "refkit_counters",
        sa.Column("referrer_id", _id(), nullable=False),
        sa.Column("rewards", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("rewards >= 0", name=op.f("ck_refkit_counters_rewards")),
        sa.PrimaryKeyConstraint("referrer_id", name=op.f("pk_refkit_counters")),
    )


def downgrade() -> None:
    # Dependents first; dropping a table drops its indexes and constraints with it.
    for table in (
        "refkit_counters",
        "refkit_ledger",
        "refkit_rewards",
        "refkit_conversions",
        "refkit_referrals",
        "refkit_visits",
        "refkit_referrers",
    ):
        op.drop_table(table)
