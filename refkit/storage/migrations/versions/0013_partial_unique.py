"""Partial unique indexes for the keys that most rows leave NULL.

``uq_refkit_rewards_milestone`` (``referrer_id``, ``milestone``), ``uq_refkit_rewards_reference``
(``reference``) and ``uq_refkit_ledger_reference`` (``reference``) become unique indexes of
the same names ``WHERE`` their last column ``IS NOT NULL``. They refuse the same rows (NULLs
never conflicted), but the rows that leave the column NULL, every order's reward and every
reward's ledger entry, no longer write an entry into them: each rewarded order writes four
index entries fewer.

SQLite cannot drop a table's UNIQUE constraint in place: both tables are rebuilt. The ledger
references the rewards, so this relies on the runner (:func:`refkit.storage.migrate.upgrade`)
switching foreign keys off around the transaction and checking them before it commits, as
revision 0009 does. PostgreSQL drops the constraints and creates the indexes in place.

Downgrading turns the indexes back into the constraints; no row is lost (any row the indexes
admit, the constraints admit).

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MAX_MINOR = 10**16
_ONE_LEVEL = (
    "(role = 'referrer' AND beneficiary_id = referrer_id) OR "
    "(role = 'referee' AND beneficiary_id = referee_id) OR "
    "(role = 'grant' AND beneficiary_id = referrer_id)"
)
_ORIGIN = (
    "(order_id IS NOT NULL AND referee_id IS NOT NULL AND role IN ('referrer', 'referee') "
    "AND milestone IS NULL AND reference IS NULL AND reason IS NULL) OR "
    "(order_id IS NULL AND referee_id IS NULL AND role = 'referrer' "
    "AND milestone IS NOT NULL AND milestone >= 1 AND reference IS NULL AND reason IS NULL) OR "
    "(order_id IS NULL AND referee_id IS NULL AND role = 'grant' "
    "AND milestone IS NULL AND reference IS NOT NULL)"
)
#: (name, table, columns) of each key: unique where its last column is set.
_KEYS = (
    ("uq_refkit_rewards_milestone", "refkit_rewards", ["referrer_id", "milestone"]),
    ("uq_refkit_rewards_reference", "refkit_rewards", ["reference"]),
    ("uq_refkit_ledger_reference", "refkit_ledger", ["reference"]),
)


def _money_check(column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"{column} >= 0 AND {column} <= {_MAX_MINOR}", name=f"ck_refkit_rewards_{column}_range"
    )


def _constraints(table: str) -> list[Any]:
    """The table's keys as the UNIQUE constraints of revision 0012."""
    return [
        sa.UniqueConstraint(*columns, name=name) for name, owner, columns in _KEYS if owner == table
    ]


def _rewards(*, keys: bool) -> sa.Table:
    """``refkit_rewards`` at 0012 (as revision 0010 left it: 0011 and 0012 did not touch it),
    with its two keys as constraints (``keys=True``), or with neither (after the downgrade
    below dropped their indexes)."""
    return sa.Table(
        "refkit_rewards",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=255), nullable=True),
        sa.Column("referee_id", sa.String(length=255), nullable=True),
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
        sa.Column("slot", sa.Integer(), server_default="0", nullable=False),  # revision 0009
        sa.Column("milestone", sa.Integer(), nullable=True),  # revision 0010
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["referee_id", "referrer_id"],
            ["refkit_referrals.referee_id", "refkit_referrals.referrer_id"],
            name="fk_refkit_rewards_referral",
        ),
        sa.UniqueConstraint("referee_id", "role", "slot", name="uq_refkit_rewards_one_per_role"),
        sa.CheckConstraint(
            "slot = 0 OR (slot = id AND status = 'revoked')", name="ck_refkit_rewards_slot"
        ),
        sa.CheckConstraint(_ONE_LEVEL, name="ck_refkit_rewards_one_level"),
        sa.CheckConstraint(_ORIGIN, name="ck_refkit_rewards_origin"),
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
        sa.ForeignKeyConstraint(
            ["order_id"], ["refkit_conversions.order_id"], name="fk_refkit_rewards_order_id"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refkit_rewards"),
        sa.Index(
            "ix_refkit_rewards_beneficiary", "beneficiary_id", "status", "currency", "value_minor"
        ),
        sa.Index("ix_refkit_rewards_due", "status", "due_at"),
        sa.Index("ix_refkit_rewards_order", "order_id"),
        sa.Index("ix_refkit_rewards_created", "created_at"),
        *(_constraints("refkit_rewards") if keys else []),
    )


def _ledger(*, keys: bool) -> sa.Table:
    """``refkit_ledger`` at 0012 (as revision 0008 made it and 0010 rebuilt it), with its
    reference key as a constraint (``keys=True``) or without it."""
    unkeyed = "'adjusted', 'redeemed', 'paid_out', 'expired'"
    spend = "'redeemed', 'paid_out', 'expired'"
    metadata = sa.MetaData()
    sa.Table("refkit_rewards", metadata, sa.Column("id", sa.Integer(), primary_key=True))
    return sa.Table(
        "refkit_ledger",
        metadata,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reward_id", sa.Integer(), nullable=True),
        sa.Column("beneficiary_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("once_key", sa.String(length=8), nullable=True),
        sa.Column("pending_minor", sa.BigInteger(), nullable=False),
        sa.Column("approved_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),  # revision 0008
        sa.CheckConstraint(
            "kind IN ('accrued', 'approved', 'revoked', 'reversed', 'adjusted', "
            "'redeemed', 'paid_out', 'expired')",
            name="ck_refkit_ledger_kind",
        ),
        sa.CheckConstraint(
            f"(kind IN ({unkeyed}) AND once_key IS NULL) OR "
            f"(kind NOT IN ({unkeyed}) AND once_key = kind)",
            name="ck_refkit_ledger_once_key",
        ),
        sa.CheckConstraint(
            f"pending_minor >= -{_MAX_MINOR} AND pending_minor <= {_MAX_MINOR} AND "
            f"approved_minor >= -{_MAX_MINOR} AND approved_minor <= {_MAX_MINOR}",
            name="ck_refkit_ledger_range",
        ),
        sa.CheckConstraint(
            f"(kind IN ({spend})) = (reward_id IS NULL) AND "
            "(kind IN ('redeemed', 'paid_out')) = (reference IS NOT NULL) AND "
            f"(kind NOT IN ({spend}) OR (pending_minor = 0 AND approved_minor < 0))",
            name="ck_refkit_ledger_spend",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refkit_ledger"),
        sa.UniqueConstraint("reward_id", "once_key", name="uq_refkit_ledger_once"),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["refkit_rewards.id"], name="fk_refkit_ledger_reward_id"
        ),
        sa.Index("ix_refkit_ledger_beneficiary", "beneficiary_id", "created_at"),
        sa.Index("ix_refkit_ledger_created", "created_at"),
        *(_constraints("refkit_ledger") if keys else []),
    )


def _snapshot(table: str, *, keys: bool) -> sa.Table:
    return _rewards(keys=keys) if table == "refkit_rewards" else _ledger(keys=keys)


def _tables() -> list[str]:
    return list(dict.fromkeys(table for _, table, _ in _KEYS))


def upgrade() -> None:
    for table in _tables():
        with op.batch_alter_table(table, copy_from=_snapshot(table, keys=True)) as batch:
            for name, owner, _ in _KEYS:
                if owner == table:
                    batch.drop_constraint(op.f(name), type_="unique")
    for name, table, columns in _KEYS:
        where = sa.text(f"{columns[-1]} IS NOT NULL")
        op.create_index(
            op.f(name), table, columns, unique=True, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for name, table, _ in _KEYS:
        op.drop_index(op.f(name), table_name=table)
    for table in _tables():
        with op.batch_alter_table(table, copy_from=_snapshot(table, keys=False)) as batch:
            for name, owner, columns in _KEYS:
                if owner == table:
                    batch.create_unique_constraint(op.f(name), columns)
