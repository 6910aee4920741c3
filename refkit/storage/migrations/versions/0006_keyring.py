"""The keyring: pepper keys of retired secret keys, wrapped under the newest one.

``ReferralProgram.rotate_keys`` (``refkit rotate-keys``) stores here the pepper of every
older key of the rotation list, encrypted and authenticated under the newest key, so a
program that no longer holds an old key still recognises the users erased under it.

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refkit_keyring",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_refkit_keyring")),
    )


def downgrade() -> None:
    op.drop_table("refkit_keyring")
