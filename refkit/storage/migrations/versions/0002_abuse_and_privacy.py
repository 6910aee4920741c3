"""Abuse and privacy: identities, review flags, fraud signals, erasures.

A frozen snapshot, like 0001: it must not import the live metadata. Only new tables, so rows
stored under 0001 are untouched.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.String:
    return sa.String(length=255)


def upgrade() -> None:
    op.create_table(
        "refkit_identities",
        sa.Column("user_id", _id(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("disposable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_refkit_identities")),
    )
    op.create_index(op.f("ix_refkit_identities_email"), "refkit_identities", ["email_hash"])

    op.create_table(
        "refkit_flags",
        sa.Column("referee_id", _id(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("referee_id", "reason", name=op.f("pk_refkit_flags")),
    )
    op.create_index(op.f("ix_refkit_flags_open"), "refkit_flags", ["cleared_at", "created_at"])

    op.create_table(
        "refkit_signals",
        sa.Column("referee_id", _id(), nullable=False),
        sa.Column("click_ip", sa.String(length=64), nullable=True),
        sa.Column("click_ua", sa.String(length=64), nullable=True),
        sa.Column("clicked_at", sa.DateTime(), nullable=True),
        sa.Column("signup_ip", sa.String(length=64), nullable=True),
        sa.Column("signup_ua", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("referee_id", name=op.f("pk_refkit_signals")),
    )
    op.create_index(op.f("ix_refkit_signals_created"), "refkit_signals", ["created_at"])

    op.create_table(
        "refkit_erasures",
        sa.Column("pseudonym", _id(), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name=op.f("pk_refkit_erasures")),
    )


def downgrade() -> None:
    for table in ("refkit_erasures", "refkit_signals", "refkit_flags", "refkit_identities"):
        op.drop_table(table)
