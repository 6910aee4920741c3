"""Reward slots: an earlier-dated order can take over a referee's pending rewards.

``refkit_rewards.slot`` is 0 for the reward that holds its role for the referee (pending,
approved, revoked or reversed: a refunded reward keeps its role, so refunds cannot loop), and
the reward's own id once an earlier-dated order took it over (it is then revoked, which a CHECK
enforces). The one-reward-per-role constraint becomes UNIQUE (``referee_id``, ``role``,
``slot``): still one reward per role per referee in slot 0, enforced by the database.

On SQLite this rebuilds ``refkit_rewards``, which ``refkit_ledger`` references: the runner
(:func:`refkit.storage.migrate.migrate`) switches foreign keys off around the transaction and
runs ``PRAGMA foreign_key_check`` before it commits.

Downgrading deletes the rewards that were taken over and their ledger entries (an accrual and
its revocation, which cancel out): the older schema holds one reward per role per referee.

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MAX_MINOR = 10**16
_UNIQUE = "uq_refkit_rewards_one_per_role"
_SLOT_CHECK = "slot = 0 OR (slot = id AND status = 'revoked')"


def _money_check(column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"{column} >= 0 AND {column} <= {_MAX_MINOR}", name=f"ck_refkit_rewards_{column}_range"
    )


def _rewards(*, slots: bool) -> sa.Table:
    """``refkit_rewards`` as it is before the batch below (SQLite copies it into a new
    table): at 0008 (``slots=False``) or at 0009."""
    slot: list[Any] = []
    unique = ["referee_id", "role"]
    if slots:
        slot = [
            sa.Column("slot", sa.Integer(), server_default="0", nullable=False),
            sa.CheckConstraint(_SLOT_CHECK, name="ck_refkit_rewards_slot"),
        ]
        unique.append("slot")
    return sa.Table(
        "refkit_rewards",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=255), nullable=False),
        sa.Column("referee_id", sa.String(length=255), nullable=False),
        sa.Column("referrer_id", sa.String(length=255), nullable=False),
        sa.Column("beneficiary_id", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("original_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        *slot,
        sa.ForeignKeyConstraint(
            ["referee_id", "referrer_id"],
            ["refkit_referrals.referee_id", "refkit_referrals.referrer_id"],
            name="fk_refkit_rewards_referral",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["refkit_conversions.order_id"], name="fk_refkit_rewards_order_id"
        ),
        sa.UniqueConstraint(*unique, name=_UNIQUE),
        sa.CheckConstraint(
            "(role = 'referrer' AND beneficiary_id = referrer_id) OR "
            "(role = 'referee' AND beneficiary_id = referee_id)",
            name="ck_refkit_rewards_one_level",
        ),
        sa.CheckConstraint("kind IN ('percent', 'fixed', 'points')", name="ck_refkit_rewards_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'revoked', 'reversed')",
            name="ck_refkit_rewards_status",
        ),
        sa.CheckConstraint(
            "(kind = 'points') = (currency IS NULL)",
            name="ck_refkit_rewards_points_have_no_currency",
        ),
        _money_check("value_minor"),
        _money_check("original_minor"),
        sa.CheckConstraint(
            "value_minor <= original_minor", name="ck_refkit_rewards_value_not_above_original"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refkit_rewards"),
        sa.Index(
            "ix_refkit_rewards_beneficiary", "beneficiary_id", "status", "currency", "value_minor"
        ),
        sa.Index("ix_refkit_rewards_due", "status", "due_at"),
        sa.Index("ix_refkit_rewards_order", "order_id"),
        sa.Index("ix_refkit_rewards_created", "created_at"),
    )


def upgrade() -> None:
    with op.batch_alter_table("refkit_rewards", copy_from=_rewards(slots=False)) as table:
        table.add_column(sa.Column("slot", sa.Integer(), server_default="0", nullable=False))
        table.drop_constraint(op.f(_UNIQUE), type_="unique")
        table.create_unique_constraint(op.f(_UNIQUE), ["referee_id", "role", "slot"])
        table.create_check_constraint(op.f("ck_refkit_rewards_slot"), _SLOT_CHECK)


def downgrade() -> None:
    op.execute(
        "DELETE FROM refkit_ledger WHERE reward_id IN "
        "(SELECT id FROM refkit_rewards WHERE slot <> 0)"
    )
    op.execute("DELETE FROM refkit_rewards WHERE slot <> 0")
    with op.batch_alter_table("refkit_rewards", copy_from=_rewards(slots=True)) as table:
        table.drop_constraint(op.f("ck_refkit_rewards_slot"), type_="check")
        table.drop_constraint(op.f(_UNIQUE), type_="unique")
        table.create_unique_constraint(op.f(_UNIQUE), ["referee_id", "role"])
        table.drop_column("slot")
