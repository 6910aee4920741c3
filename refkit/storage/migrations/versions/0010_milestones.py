"""Milestone bonuses and rewards granted by hand: rewards that belong to no order.

``refkit_rewards.order_id`` and ``referee_id`` become nullable; new columns ``milestone`` (a
milestone bonus's count), ``reference`` and ``reason`` (a grant's); UNIQUE (``referrer_id``,
``milestone``) pays a milestone once per referrer, UNIQUE ``reference`` makes grants
idempotent; the ``origin`` CHECK keeps an order's reward, a bonus and a grant apart, and
``one_level`` admits ``role = 'grant'`` (the grant's user in ``referrer_id``).

SQLite cannot change a CHECK or a NOT NULL in place: the table is rebuilt. The ledger's
foreign key points at it, and SQLite refuses to drop a table rows still point at (foreign
keys are on, and a migration runs in one transaction, where they cannot be switched off),
so on SQLite the ledger is set aside in a plain copy, the rewards rebuilt, then the ledger
rebuilt as it was and filled back.

Downgrading deletes the bonuses and grants with their ledger entries (the older schema cannot
hold them) and takes their approved amounts back off the balances.

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MAX_MINOR = 10**16
_OLD_ONE_LEVEL = (
    "(role = 'referrer' AND beneficiary_id = referrer_id) OR "
    "(role = 'referee' AND beneficiary_id = referee_id)"
)
_NEW_ONE_LEVEL = f"{_OLD_ONE_LEVEL} OR (role = 'grant' AND beneficiary_id = referrer_id)"
_ORIGIN = (
    "(order_id IS NOT NULL AND referee_id IS NOT NULL AND role IN ('referrer', 'referee') "
    "AND milestone IS NULL AND reference IS NULL AND reason IS NULL) OR "
    "(order_id IS NULL AND referee_id IS NULL AND role = 'referrer' "
    "AND milestone IS NOT NULL AND milestone >= 1 AND reference IS NULL AND reason IS NULL) OR "
    "(order_id IS NULL AND referee_id IS NULL AND role = 'grant' "
    "AND milestone IS NULL AND reference IS NOT NULL)"
)
_LEDGER_COLUMNS = (
    "id, reward_id, beneficiary_id, kind, once_key, pending_minor, approved_minor, "
    "currency, created_at, reference"
)
_LEDGER_ASIDE = "refkit_ledger_0010"
_EXTRA = "(SELECT id FROM refkit_rewards WHERE order_id IS NULL)"
_SET_ASIDE = f"CREATE TABLE {_LEDGER_ASIDE} AS SELECT {_LEDGER_COLUMNS} FROM refkit_ledger"  # noqa: S608
_PUT_BACK = (
    f"INSERT INTO refkit_ledger ({_LEDGER_COLUMNS}) "  # noqa: S608 (constants only)
    f"SELECT {_LEDGER_COLUMNS} FROM {_LEDGER_ASIDE}"
)
#: The bonuses' and grants' approved amounts off the balances (never below zero).
_TAKE_BACK = f"""
UPDATE refkit_balances SET balance_minor = GREATEST(0, balance_minor - (
    SELECT COALESCE(SUM(l.approved_minor), 0) FROM refkit_ledger l
    WHERE l.reward_id IN {_EXTRA}
      AND l.beneficiary_id = refkit_balances.beneficiary_id
      AND COALESCE(l.currency, '') = refkit_balances.currency))
"""  # noqa: S608 (constants only)
_DELETE_ENTRIES = f"DELETE FROM refkit_ledger WHERE reward_id IN {_EXTRA}"  # noqa: S608


def _money_check(column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"{column} >= 0 AND {column} <= {_MAX_MINOR}", name=f"ck_refkit_rewards_{column}_range"
    )


def _rewards(*, new: bool) -> sa.Table:
    """The rewards table before the batch below (SQLite copies it into a new table): at
    0009 (``new=False``, with its reward slots) or at 0010."""
    extra: list[Any] = []
    if new:
        extra = [
            sa.Column("milestone", sa.Integer(), nullable=True),
            sa.Column("reference", sa.String(length=255), nullable=True),
            sa.Column("reason", sa.String(length=255), nullable=True),
            sa.CheckConstraint(_ORIGIN, name="ck_refkit_rewards_origin"),
            sa.UniqueConstraint("referrer_id", "milestone", name="uq_refkit_rewards_milestone"),
            sa.UniqueConstraint("reference", name="uq_refkit_rewards_reference"),
        ]
    return sa.Table(
        "refkit_rewards",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=255), nullable=new),
        sa.Column("referee_id", sa.String(length=255), nullable=new),
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
        sa.ForeignKeyConstraint(
            ["referee_id", "referrer_id"],
            ["refkit_referrals.referee_id", "refkit_referrals.referrer_id"],
            name="fk_refkit_rewards_referral",
        ),
        sa.Column("slot", sa.Integer(), server_default="0", nullable=False),  # revision 0009
        sa.UniqueConstraint("referee_id", "role", "slot", name="uq_refkit_rewards_one_per_role"),
        sa.CheckConstraint(
            "slot = 0 OR (slot = id AND status = 'revoked')", name="ck_refkit_rewards_slot"
        ),
        sa.CheckConstraint(
            _NEW_ONE_LEVEL if new else _OLD_ONE_LEVEL, name="ck_refkit_rewards_one_level"
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
        *extra,
    )


def _ledger() -> sa.Table:
    """The ledger at revision 0008, rebuilt as it was on SQLite."""
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
        sa.Column("reference", sa.String(length=255), nullable=True),
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
        sa.UniqueConstraint("reference", name="uq_refkit_ledger_reference"),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["refkit_rewards.id"], name="fk_refkit_ledger_reward_id"
        ),
        sa.Index("ix_refkit_ledger_beneficiary", "beneficiary_id", "created_at"),
        sa.Index("ix_refkit_ledger_created", "created_at"),
    )


@contextmanager
def _ledger_aside() -> Iterator[None]:
    """On SQLite, move the ledger out of the way while the rewards table is rebuilt."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    op.execute(_SET_ASIDE)
    op.drop_table("refkit_ledger")
    yield
    _ledger().create(bind)
    op.execute(_PUT_BACK)
    op.drop_table(_LEDGER_ASIDE)


def upgrade() -> None:
    with (
        _ledger_aside(),
        op.batch_alter_table("refkit_rewards", copy_from=_rewards(new=False)) as rewards,
    ):
        rewards.alter_column("order_id", existing_type=sa.String(length=255), nullable=True)
        rewards.alter_column("referee_id", existing_type=sa.String(length=255), nullable=True)
        rewards.add_column(sa.Column("milestone", sa.Integer(), nullable=True))
        rewards.add_column(sa.Column("reference", sa.String(length=255), nullable=True))
        rewards.add_column(sa.Column("reason", sa.String(length=255), nullable=True))
        rewards.drop_constraint(op.f("ck_refkit_rewards_one_level"), type_="check")
        rewards.create_check_constraint(op.f("ck_refkit_rewards_one_level"), _NEW_ONE_LEVEL)
        rewards.create_check_constraint(op.f("ck_refkit_rewards_origin"), _ORIGIN)
        rewards.create_unique_constraint(
            op.f("uq_refkit_rewards_milestone"), ["referrer_id", "milestone"]
        )
        rewards.create_unique_constraint(op.f("uq_refkit_rewards_reference"), ["reference"])


def downgrade() -> None:
    # Take the bonuses' and grants' approved amounts back off the balances, then delete them.
    bind = op.get_bind()
    lower = "MAX" if bind.dialect.name == "sqlite" else "GREATEST"
    op.execute(_TAKE_BACK.replace("GREATEST", lower))
    op.execute(_DELETE_ENTRIES)
    op.execute("DELETE FROM refkit_rewards WHERE order_id IS NULL")
    with (
        _ledger_aside(),
        op.batch_alter_table("refkit_rewards", copy_from=_rewards(new=True)) as rewards,
    ):
        rewards.drop_constraint(op.f("uq_refkit_rewards_reference"), type_="unique")
        rewards.drop_constraint(op.f("uq_refkit_rewards_milestone"), type_="unique")
        rewards.drop_constraint(op.f("ck_refkit_rewards_origin"), type_="check")
        rewards.drop_constraint(op.f("ck_refkit_rewards_one_level"), type_="check")
        rewards.create_check_constraint(op.f("ck_refkit_rewards_one_level"), _OLD_ONE_LEVEL)
        rewards.drop_column("reason")
        rewards.drop_column("reference")
        rewards.drop_column("milestone")
        rewards.alter_column("referee_id", existing_type=sa.String(length=255), nullable=False)
        rewards.alter_column("order_id", existing_type=sa.String(length=255), nullable=False)
