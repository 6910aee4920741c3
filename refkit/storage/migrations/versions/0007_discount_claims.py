"""Revoked codes and the friend's discount claims.

``refkit_revoked_codes`` keeps the referrer number behind each withdrawn code
(:meth:`~refkit.ReferralProgram.revoke_code`): the old code then resolves to
``InvalidCode(reason="revoked")`` and the number is never given to anyone again.

``refkit_discount_claims`` reserves the friend's discount for an order before payment;
UNIQUE (``slot``) (the referee's id while a claim is live, used or refunded, ``NULL`` once
released or lapsed) keeps one live or used discount per referee.

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0007
Revises: 0004 (the coordinator re-chains revisions when merging)
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refkit_revoked_codes",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "number >= 0 AND number < 8388608",
            name=op.f("ck_refkit_revoked_codes_number_range"),
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_refkit_revoked_codes")),
    )
    op.create_index(op.f("ix_refkit_revoked_codes_user"), "refkit_revoked_codes", ["user_id"])

    op.create_table(
        "refkit_discount_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=255), nullable=False),
        sa.Column("referee_id", sa.String(length=255), nullable=False),
        sa.Column("referrer_id", sa.String(length=255), nullable=False),
        sa.Column("slot", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('live', 'used', 'refunded', 'released', 'lapsed')",
            name=op.f("ck_refkit_discount_claims_status"),
        ),
        sa.CheckConstraint(
            "(slot IS NULL AND status IN ('released', 'lapsed')) OR "
            "(slot = referee_id AND status IN ('live', 'used', 'refunded'))",
            name=op.f("ck_refkit_discount_claims_slot"),
        ),
        sa.CheckConstraint(
            "amount_minor >= 0 AND amount_minor <= 10000000000000000",
            name=op.f("ck_refkit_discount_claims_amount_minor_range"),
        ),
        sa.CheckConstraint(
            "discount_minor >= 0 AND discount_minor <= 10000000000000000",
            name=op.f("ck_refkit_discount_claims_discount_minor_range"),
        ),
        sa.CheckConstraint(
            "discount_minor <= amount_minor",
            name=op.f("ck_refkit_discount_claims_discount_not_above_amount"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refkit_discount_claims")),
        sa.UniqueConstraint("order_id", name="uq_refkit_discount_claims_order"),
        sa.UniqueConstraint("slot", name="uq_refkit_discount_claims_slot"),
    )
    op.create_index(
        op.f("ix_refkit_discount_claims_referee"),
        "refkit_discount_claims",
        ["referee_id", "status"],
    )
    op.create_index(
        op.f("ix_refkit_discount_claims_used"), "refkit_discount_claims", ["status", "used_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_refkit_discount_claims_used"), table_name="refkit_discount_claims")
    op.drop_index(op.f("ix_refkit_discount_claims_referee"), table_name="refkit_discount_claims")
    op.drop_table("refkit_discount_claims")
    op.drop_index(op.f("ix_refkit_revoked_codes_user"), table_name="refkit_revoked_codes")
    op.drop_table("refkit_revoked_codes")
