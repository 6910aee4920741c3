"""A/B tests of offers: the variant on visits and referrals.

``refkit_visits.variant`` is the variant a visitor was assigned at the landing and
``refkit_referrals.variant`` the one a referee was bound with (:class:`refkit.Experiment`);
both are NULL outside an experiment, and for the rows stored before this revision.

Downgrading drops both columns (and with them which variant each referral was in).

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("refkit_visits", sa.Column("variant", sa.String(length=64), nullable=True))
    op.add_column("refkit_referrals", sa.Column("variant", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place: no table copy, so its CHECKs stay as they are.
    op.drop_column("refkit_referrals", "variant")
    op.drop_column("refkit_visits", "variant")
