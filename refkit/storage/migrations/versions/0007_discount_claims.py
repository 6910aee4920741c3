"""Revoked codes (and, next, the friend's discount claims).

``refkit_revoked_codes`` keeps the referrer number behind each withdrawn code
(:meth:`~refkit.ReferralProgram.revoke_code`): the old code then resolves to
``InvalidCode(reason="revoked")`` and the number is never given to anyone again.

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
down_revision: str | Sequence[str] | None = "0004"
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


def downgrade() -> None:
    op.drop_index(op.f("ix_refkit_revoked_codes_user"), table_name="refkit_revoked_codes")
    op.drop_table("refkit_revoked_codes")
