"""Spending credit: redeemed, paid-out and expired ledger entries, and per-user balances.

Ledger entries may now belong to no reward (``reward_id`` NULL) when they spend a balance:
kinds ``redeemed`` and ``paid_out`` (with the caller's unique ``reference``) and ``expired``.
``refkit_balances`` holds each user's spendable balance by currency (``''`` for points),
filled from the approved amounts of the ledger stored so far; a CHECK keeps it from going
below zero.

Downgrading deletes the redeemed, paid-out and expired entries (the older schema cannot hold
them): the balances then read as the approved rewards again, as the older release showed them.

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MAX_MINOR = 10**16
_OLD_KIND = "kind IN ('accrued', 'approved', 'revoked', 'reversed', 'adjusted')"
_OLD_ONCE_KEY = (
    "(kind = 'adjusted' AND once_key IS NULL) OR (kind <> 'adjusted' AND once_key = kind)"
)
_SPEND = "'redeemed', 'paid_out', 'expired'"
_UNKEYED = "'adjusted', 'redeemed', 'paid_out', 'expired'"
_NEW_KIND = (
    "kind IN ('accrued', 'approved', 'revoked', 'reversed', 'adjusted', "
    "'redeemed', 'paid_out', 'expired')"
)
_NEW_ONCE_KEY = (
    f"(kind IN ({_UNKEYED}) AND once_key IS NULL) OR (kind NOT IN ({_UNKEYED}) AND once_key = kind)"
)
_NEW_SPEND = (
    f"(kind IN ({_SPEND})) = (reward_id IS NULL) AND "
    "(kind IN ('redeemed', 'paid_out')) = (reference IS NOT NULL) AND "
    f"(kind NOT IN ({_SPEND}) OR (pending_minor = 0 AND approved_minor < 0))"
)

#: Every user's approved balance so far (no entry spent anything before this revision).
_BACKFILL = """
INSERT INTO refkit_balances (beneficiary_id, currency, balance_minor, debt_minor)
SELECT beneficiary_id, COALESCE(currency, ''), SUM(approved_minor), 0
FROM refkit_ledger
GROUP BY beneficiary_id, COALESCE(currency, '')
HAVING SUM(approved_minor) > 0
"""


def _ledger(kind: str, once_key: str, *, spend: bool) -> sa.Table:
    """The ledger as it is before the batch below (SQLite copies it into a new table)."""
    extra: list[Any] = []
    if spend:
        extra = [
            sa.Column("reference", sa.String(length=255), nullable=True),
            sa.CheckConstraint(_NEW_SPEND, name="ck_refkit_ledger_spend"),
            sa.UniqueConstraint("reference", name="uq_refkit_ledger_reference"),
        ]
    return sa.Table(
        "refkit_ledger",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=spend),
        sa.Column("beneficiary_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("once_key", sa.String(length=8), nullable=True),
        sa.Column("pending_minor", sa.BigInteger(), nullable=False),
        sa.Column("approved_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(kind, name="ck_refkit_ledger_kind"),
        sa.CheckConstraint(once_key, name="ck_refkit_ledger_once_key"),
        sa.CheckConstraint(
            f"pending_minor >= -{_MAX_MINOR} AND pending_minor <= {_MAX_MINOR} AND "
            f"approved_minor >= -{_MAX_MINOR} AND approved_minor <= {_MAX_MINOR}",
            name="ck_refkit_ledger_range",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refkit_ledger"),
        sa.UniqueConstraint("reward_id", "once_key", name="uq_refkit_ledger_once"),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["refkit_rewards.id"], name="fk_refkit_ledger_reward_id"
        ),
        sa.Index("ix_refkit_ledger_beneficiary", "beneficiary_id", "created_at"),
        sa.Index("ix_refkit_ledger_created", "created_at"),
        *extra,
    )


def upgrade() -> None:
    with op.batch_alter_table(
        "refkit_ledger", copy_from=_ledger(_OLD_KIND, _OLD_ONCE_KEY, spend=False)
    ) as ledger:
        ledger.alter_column("reward_id", existing_type=sa.Integer(), nullable=True)
        ledger.add_column(sa.Column("reference", sa.String(length=255), nullable=True))
        ledger.drop_constraint(op.f("ck_refkit_ledger_kind"), type_="check")
        ledger.drop_constraint(op.f("ck_refkit_ledger_once_key"), type_="check")
        ledger.create_check_constraint(op.f("ck_refkit_ledger_kind"), _NEW_KIND)
        ledger.create_check_constraint(op.f("ck_refkit_ledger_once_key"), _NEW_ONCE_KEY)
        ledger.create_check_constraint(op.f("ck_refkit_ledger_spend"), _NEW_SPEND)
        ledger.create_unique_constraint(op.f("uq_refkit_ledger_reference"), ["reference"])
    op.create_table(
        "refkit_balances",
        sa.Column("beneficiary_id", sa.String(length=255), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("debt_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            f"balance_minor >= 0 AND balance_minor <= {_MAX_MINOR} AND "
            f"debt_minor >= 0 AND debt_minor <= {_MAX_MINOR} AND "
            "(balance_minor = 0 OR debt_minor = 0)",
            name=op.f("ck_refkit_balances_not_negative"),
        ),
        sa.PrimaryKeyConstraint("beneficiary_id", "currency", name=op.f("pk_refkit_balances")),
    )
    op.create_index(
        op.f("ix_refkit_balances_payable"), "refkit_balances", ["currency", "balance_minor"]
    )
    op.execute(_BACKFILL)


def downgrade() -> None:
    op.drop_table("refkit_balances")
    op.execute("DELETE FROM refkit_ledger WHERE kind IN ('redeemed', 'paid_out', 'expired')")
    with op.batch_alter_table(
        "refkit_ledger", copy_from=_ledger(_NEW_KIND, _NEW_ONCE_KEY, spend=True)
    ) as ledger:
        ledger.drop_constraint(op.f("uq_refkit_ledger_reference"), type_="unique")
        ledger.drop_constraint(op.f("ck_refkit_ledger_spend"), type_="check")
        ledger.drop_constraint(op.f("ck_refkit_ledger_kind"), type_="check")
        ledger.drop_constraint(op.f("ck_refkit_ledger_once_key"), type_="check")
        ledger.drop_column("reference")
        ledger.create_check_constraint(op.f("ck_refkit_ledger_kind"), _OLD_KIND)
        ledger.create_check_constraint(op.f("ck_refkit_ledger_once_key"), _OLD_ONCE_KEY)
        ledger.alter_column("reward_id", existing_type=sa.Integer(), nullable=False)
